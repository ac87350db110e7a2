/*
 * TEST ONLY - never shipped. Wine 8 has no bcryptprimitives.dll, and Go 1.22+
 * programs ask it for ProcessPrng at start-up (runtime/os_windows.go), so
 * without this stand-in the real ukeyrenew.exe cannot be smoke-run under Wine.
 * Windows 10+ has the real DLL. The randomness comes from RtlGenRandom
 * (advapi32 SystemFunction036), which Wine implements over the host's
 * /dev/urandom; like the real ProcessPrng it always succeeds.
 *
 * Built by scripts/package-check.sh into the prefix's system32:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c bcryptprimitives.def -ladvapi32
 * and by scripts/wine-x86.sh into its syswow64, for 32-bit programs (the .def
 * names the undecorated ProcessPrng, which Go looks up; the fixup links it to
 * the stdcall symbol _ProcessPrng@8):
 *   i686-w64-mingw32-gcc -shared -O2 -Wl,--enable-stdcall-fixup -o bcryptprimitives.dll bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
