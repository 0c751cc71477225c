// Stock technique rules: containers that deliver a runnable file in a way other detectors do not open.

rule HTML_Smuggling_Blob_Download
{
    meta:
        description = "HTML that assembles a file in the browser from embedded data and saves it (HTML smuggling)"
        weight = "0.8"
    strings:
        $html1 = "<html" nocase
        $html2 = "<script" nocase
        $blob = /new\s+Blob\s*\(/ nocase
        $save1 = "msSaveOrOpenBlob" nocase
        $save2 = "createObjectURL" nocase
        $click = ".click()" nocase
        $decode1 = "atob(" nocase
        $decode2 = "Uint8Array" nocase
        $decode3 = "charCodeAt" nocase
    condition:
        filesize < 20MB and any of ($html*) and $blob and ($save1 or ($save2 and $click)) and any of ($decode*)
}

rule OneNote_Embedded_Runnable_File
{
    meta:
        description = "A OneNote section with an embedded file whose name runs on a double-click"
        weight = "1.0"
    strings:
        // FileDataStoreObject header: {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}
        $embedded = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC }
        $ext1 = ".hta" nocase wide
        $ext2 = ".bat" nocase wide
        $ext3 = ".cmd" nocase wide
        $ext4 = ".vbs" nocase wide
        $ext5 = ".js" nocase wide
        $ext6 = ".wsf" nocase wide
        $ext7 = ".exe" nocase wide
        $ext8 = ".ps1" nocase wide
        $ext9 = ".lnk" nocase wide
        $ext10 = ".chm" nocase wide
    condition:
        uint32(0) == 0x7B5C52E4 and $embedded and any of ($ext*)
}
