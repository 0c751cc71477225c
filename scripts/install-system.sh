#!/usr/bin/env bash
# Debian packages the test suite needs. Installs only what is missing, so it is cheap to re-run.
set -euo pipefail
need=()
command -v file >/dev/null || need+=(file)
dpkg -s libmagic1 >/dev/null 2>&1 || need+=(libmagic1)
dpkg -s libarchive13 >/dev/null 2>&1 || need+=(libarchive13)
command -v unar >/dev/null || need+=(unar)    # encrypted RAR, opened with the mail's passwords (unpack/formats/rar.py)
command -v 7zz >/dev/null || need+=(7zip)     # disk images no Python reader opens: NTFS, UDF-only (unpack/formats/image_tool.py)
command -v mkntfs >/dev/null || [ -x /usr/sbin/mkntfs ] || need+=(ntfs-3g)  # tests build real NTFS volumes (mkntfs, ntfscp)
[ -x /usr/lib/postgresql/*/bin/postgres ] 2>/dev/null || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
dpkg -s fonts-ipafont-gothic >/dev/null 2>&1 || need+=(fonts-ipafont-gothic)  # Japanese text in console screenshots
command -v postfix >/dev/null || [ -x /usr/sbin/postfix ] || need+=(postfix)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)   # clawback tests: a private Dovecot on loopback
dpkg -s dovecot-lmtpd >/dev/null 2>&1 || need+=(dovecot-lmtpd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "need root to install: ${need[*]}" >&2; exit 1; fi
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
