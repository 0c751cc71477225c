import pytest

from kakuri.store.directory_import import DirectoryError, read_partner_domains, read_people

HEADER = "name_ja,name_romaji,email,department_ja,company_ja,domain\n"
ROWS = "杉山 花子,Hanako Sugiyama,Hanako.Sugiyama@kitaboshi.example,営業部,北星計器,kitaboshi.example\n"


@pytest.mark.parametrize(
    "data",
    [
        (HEADER + ROWS).encode("utf-8"),
        b"\xef\xbb\xbf" + (HEADER + ROWS).encode("utf-8"),  # Excel "CSV UTF-8"
        (HEADER + ROWS).encode("cp932"),  # Excel's default Japanese CSV
        (HEADER + ROWS).replace(",", "\t").encode("utf-16"),  # Excel "Unicode text"
    ],
    ids=["utf8", "utf8-bom", "cp932", "utf16-tab"],
)
def test_excel_exports_are_read(tmp_path, data):
    path = tmp_path / "staff.csv"
    path.write_bytes(data)
    read = read_people(path, "staff")
    [person] = read.people
    assert (person.name, person.email) == ("杉山 花子", "hanako.sugiyama@kitaboshi.example")
    assert person.other_names == ("Hanako Sugiyama",)
    assert read.domains == {"kitaboshi.example"}


def test_japanese_column_names_and_rows_without_address_are_reported(tmp_path):
    path = tmp_path / "partners.csv"
    rows = "氏名,メールアドレス,会社名\n森田浩二,k-morita@hoshizora-denki.example,星空電機\n名無し,,\n"
    path.write_text(rows, encoding="utf-8")
    read = read_people(path, "partner")
    assert [p.name for p in read.people] == ["森田浩二"]
    assert read.people[0].company == "星空電機"
    assert read.skipped == ["line 3: no e-mail address"]


def test_file_without_an_email_column_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DirectoryError, match="no e-mail column"):
        read_people(path, "staff")


def test_partner_domains_from_json_config_or_text(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"known_partner_domains": [{"domain": "A.example"}, {"domain": "b.example"}]}')
    assert read_partner_domains(config) == {"a.example", "b.example"}
    listing = tmp_path / "partners.txt"
    listing.write_text("c.example  # supplier\n\nd.example\n")
    assert read_partner_domains(listing) == {"c.example", "d.example"}
