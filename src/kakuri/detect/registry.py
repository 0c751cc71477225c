"""The built-in detectors, in the order they run: one line each.

Order matters only for `ScanContext.facts`: a detector that publishes a fact runs before those that read it.
"""

from __future__ import annotations

from typing import Callable

from kakuri.detect.base import Detector
from kakuri.model import SymbolSpec
from kakuri.settings import Settings


def _factories() -> list[Callable[[Settings], Detector]]:
    from kakuri.detect import containers, mime_structure
    from kakuri.detect import lookalike, own_domain, sender_auth, urls
    from kakuri.detect import file_types, iocs, pdf, text_obfuscation
    from kakuri.detect import impersonation, outbound_spread, thread_hijack
    from kakuri.detect import calendar, html_attachment, pdf_links, qr_codes  # lure files: links before the URL detectors
    from kakuri.detect import config_profiles, office_lures
    from kakuri.detect import brand_impersonation, link_destinations, sender_header
    from kakuri.detect import office_dde, office_encryption, office_flat, office_links, office_macros, office_objects, office_stomping
    from kakuri.detect import office_actions, office_xlm
    from kakuri.detect import lure_model, lure_text

    return [
        lambda s: mime_structure.MimeStructure(),  # malformed MIME, parser defects
        lambda s: sender_auth.SenderAuth(s.org.trusted_authserv_ids, s.org.internal_networks),  # SPF/DKIM/DMARC
        lambda s: own_domain.OwnDomain(),  # our own domain claimed by mail from outside (reads auth.dmarc)
        lambda s: lookalike.LookalikeDomains(),  # sender domains imitating ours or a partner's
        lambda s: impersonation.Impersonation(),  # display names of our staff / partners on other addresses
        lambda s: sender_header.SenderHeader(),  # From mailboxes without a domain (name shown, address hidden)
        lambda s: thread_hijack.ThreadHijack(),  # replies into known threads from outsiders to them
        lambda s: outbound_spread.OutboundSpread(),  # our account replying to outsiders of a thread, many companies
        lambda s: html_attachment.HtmlAttachment.from_folder(s.unpack, s.path("rules")),  # phishing pages, smuggling
        lambda s: pdf_links.PdfLinks(),  # PDF link annotations, buttons, bare lure pages, passwords from the body
        lambda s: office_lures.OfficeLures(),  # macro-free Office files that are a picture and a link; pictures to QR
        lambda s: qr_codes.QrCodes(),  # QR codes in images and PDF pages, decoded into links
        lambda s: calendar.Calendar.from_folder(s.path("rules")),  # invitations: links, organisers other than the sender
        lambda s: config_profiles.ConfigProfiles(),  # Apple .mobileconfig: MDM, root certificates, VPN, web clips
        lambda s: urls.UrlLures(s.path("rules", "urlhaus")),  # lure links; URLhaus dumps loaded once
        lambda s: link_destinations.LinkDestinations(s.path("rules", "link_destinations")),  # free hosts, forms, redirect targets
        lambda s: brand_impersonation.BrandImpersonation(s.path("rules", "brands"), s.path("rules", "link_destinations")),
        lambda s: text_obfuscation.TextObfuscation(),  # look-alike letters, spaced or invisible-split words
        lambda s: lure_text.LureText.from_folder(s.path("rules")),  # lure wording: credentials, suspension, payment, parcel, callback, fraud
        lambda s: lure_model.LureModelDetector(),  # learned second opinion on English lure wording (data/lure_model.json)
        lambda s: containers.Containers(),  # archive inventory, for emergency overrides
        lambda s: office_encryption.OfficeEncryption(),  # decrypts VelvetSweatshop/body-password docs into children
        lambda s: office_flat.OfficeFlat(),  # Word 2003 XML / Flat OPC / MHT: base64 parts into children
        lambda s: office_objects.OfficeObjects(),  # embedded packages/exploit objects; extracts them as children
        lambda s: office_macros.OfficeMacros(),  # VBA present / autoexec / dropper behaviour
        lambda s: office_stomping.OfficeStomping(),  # p-code that the VBA source does not match
        lambda s: office_xlm.OfficeXlm(),  # Excel 4.0 macro sheets (xls, xlsm, xlsb, SYLK)
        lambda s: office_dde.OfficeDde(),  # DDE fields, links and formulas
        lambda s: office_links.OfficeLinks(),  # remote template injection, external OLE links
        lambda s: office_actions.OfficeActions(),  # PowerPoint shapes running a program / a macro on mouse-over
        lambda s: file_types.FileTypes(),  # executables, scripts, shortcuts, disk images, lying names
        lambda s: pdf.Pdf(),  # PDF JavaScript, launch actions, embedded executables, link lures
        lambda s: iocs.Iocs.from_settings(s),  # IOC hash lists, YARA rules, EICAR
    ]


def build_detectors(settings: Settings) -> list[Detector]:
    from kakuri.detect import ole_limits

    ole_limits.install()  # olefile otherwise inflates a looping FAT chain to the declared stream size
    return [factory(settings) for factory in _factories()]


PIPELINE_SYMBOLS = (
    SymbolSpec("DETECTOR_FAILED", "internal", "A detector raised an exception; the scan went on without it"),
)


def symbol_catalogue(detectors: list[Detector]) -> dict[str, SymbolSpec]:
    from kakuri.hunt.symbols import SYMBOLS as HUNT_SYMBOLS  # log hunting (`kakuri hunt`), scored per host
    from kakuri.unpack.walker import SYMBOLS as UNPACK_SYMBOLS

    catalogue = {spec.name: spec for spec in (*PIPELINE_SYMBOLS, *UNPACK_SYMBOLS, *HUNT_SYMBOLS)}
    for detector in detectors:
        for spec in detector.symbols:
            catalogue[spec.name] = spec
    return catalogue
