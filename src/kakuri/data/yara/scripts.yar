// Stock technique rules: script code that fetches and runs a payload, wherever it hides
// (a .lnk's arguments, an OOXML part, a OneNote section, a text file with a harmless name).
// Family signatures belong in the operator's rules/yara/, not here.

rule PowerShell_Download_Cradle
{
    meta:
        description = "PowerShell that downloads and runs code, or runs an encoded command"
        weight = "0.8"
    strings:
        $ps = "powershell" nocase ascii wide
        $dl1 = "DownloadString" nocase ascii wide
        $dl2 = "DownloadFile" nocase ascii wide
        $dl3 = "DownloadData" nocase ascii wide
        $dl4 = "Invoke-WebRequest" nocase ascii wide
        $dl5 = "Start-BitsTransfer" nocase ascii wide
        $dl6 = "Net.WebClient" nocase ascii wide
        $run1 = "Invoke-Expression" nocase ascii wide
        $run2 = "iex(" nocase ascii wide
        $run3 = "iex (" nocase ascii wide
        $run4 = "Start-Process" nocase ascii wide
        $enc = /powershell(\.exe)?["']?\s[^\r\n]{0,80}\s-(e|ec|enc|encodedcommand)\s+[A-Za-z0-9+\/=]{40,}/ nocase ascii wide
    condition:
        $enc or ($ps and any of ($dl*) and any of ($run*))
}

rule LOLBin_Remote_Script_Execution
{
    meta:
        description = "A Windows system binary told to fetch and run remote script (mshta, regsvr32 scrobj, certutil)"
        weight = "0.8"
    strings:
        $mshta = /mshta(\.exe)?["']?\s+["']?(https?|vbscript|javascript):/ nocase ascii wide
        $squiblydoo = /regsvr32(\.exe)?[^\r\n]{0,40}\/i:https?:[^\r\n]{0,200}scrobj\.dll/ nocase ascii wide
        $certutil = /certutil(\.exe)?\s[^\r\n]{0,40}-urlcache[^\r\n]{0,40}https?:/ nocase ascii wide
        $rundll = /rundll32(\.exe)?["']?\s+(javascript|url\.dll,\s*FileProtocolHandler\s+https?):/ nocase ascii wide
    condition:
        any of them
}
