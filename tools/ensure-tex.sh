#!/usr/bin/env bash
# Install the TeX toolchain that the figures (PGF) and paper/ (latexmk) need, when it is missing.
#
# Idempotent: exits at once when latexmk and pdflatex are both on PATH. On Debian/Ubuntu it runs
# `apt-get update` once, then installs the packages below (about 30-90 s). Uses sudo only when not
# root. On other systems it says what to install and fails.
set -euo pipefail

PACKAGES=(latexmk texlive-latex-base texlive-latex-recommended texlive-pictures
          texlive-science texlive-fonts-recommended)

if command -v latexmk >/dev/null 2>&1 && command -v pdflatex >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tex: latexmk/pdflatex missing and apt-get not available;" \
         "install a TeX distribution with latexmk and pgf (e.g. TeX Live) by hand." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-tex: not root and sudo not available; run as root:" \
             "apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
        exit 1
    fi
fi

echo "ensure-tex: installing ${PACKAGES[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
command -v latexmk >/dev/null && command -v pdflatex >/dev/null
echo "ensure-tex: done ($(pdflatex --version | head -n 1))" >&2
