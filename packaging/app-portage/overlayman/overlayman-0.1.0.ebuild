# Copyright 2025 Gentoo Authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

inherit bash-completion-r1 systemd

DESCRIPTION="Copy chosen packages, with what they need, from overlays into one local repository"
HOMEPAGE="https://github.com/overlayman/overlayman"
# The first file is what "npm pack" makes (package/ with the prebuilt dist/);
# the second holds package/node_modules as "npm ci --omit=dev" leaves it, made
# by the maintainer at release time, because nothing may be fetched during
# the build.
SRC_URI="
	https://github.com/overlayman/overlayman/releases/download/v${PV}/${P}.tgz
	https://github.com/overlayman/overlayman/releases/download/v${PV}/${P}-deps.tar.xz
"
S="${WORKDIR}/package"

# overlayman itself GPL-2; the bundled node modules are MIT, ISC, Apache-2.0,
# BlueOak-1.0.0, BSD and ZLIB.
LICENSE="GPL-2 Apache-2.0 BlueOak-1.0.0 BSD ISC MIT ZLIB"
SLOT="0"
KEYWORDS="~amd64 ~arm64"
# The test suite needs the dev dependencies and git http-backend.
RESTRICT="test"

RDEPEND=">=net-libs/nodejs-20.19"

src_compile() {
	# dist/ is shipped compiled: building it would need typescript.
	:
}

src_install() {
	local dest=/usr/lib/node_modules/${PN}

	insinto "${dest}"
	doins -r package.json bin dist node_modules
	fperms +x "${dest}"/bin/olm.js
	dosym -r "${dest}"/bin/olm.js /usr/bin/olm

	doman man/olm.1 man/overlayman.conf.5
	dodoc README.md

	newbashcomp completions/olm.bash olm
	insinto /usr/share/zsh/site-functions
	doins completions/_olm

	# Every line of the settings file is commented out: the defaults apply.
	insinto /etc/overlayman
	doins etc/overlayman.conf
	keepdir /etc/overlayman/packages.d /etc/overlayman/overlays.d

	# Installed, not enabled: the timer, the cron entry and the portage hook
	# each refresh the repository, and the administrator picks one.
	systemd_dounit etc/systemd/olm-sync.service etc/systemd/olm-sync.timer
	insinto /usr/share/${PN}
	doins -r etc/cron.d etc/portage etc/packages.d etc/overlays.d
	fperms +x /usr/share/${PN}/portage/repo.postsync.d/50-overlayman

	keepdir /var/cache/overlayman
}

pkg_postinst() {
	if [[ -z ${REPLACING_VERSIONS} ]]; then
		elog "Request packages with, for example:"
		elog "  olm add sys-kernel/tt-kmd::tenstorrent"
		elog "Examples of the files in /etc/overlayman are in ${EROOT}/usr/share/${PN}."
		elog
		elog "To refresh the repository every day, enable one of:"
		elog "  systemctl enable --now olm-sync.timer"
		elog "  cp ${EROOT}/usr/share/${PN}/cron.d/overlayman /etc/cron.d/"
		elog "  ln -s ${EROOT}/usr/share/${PN}/portage/repo.postsync.d/50-overlayman \\"
		elog "     /etc/portage/repo.postsync.d/  (runs olm sync after emaint sync -a)"
	fi
}
