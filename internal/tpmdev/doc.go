// Package tpmdev opens the machine's TPM 2.0, the one device that both the
// desktop client's sealed session (client/session) and a counter
// workstation's signing key (client/workstation) live under.
//
// The model. Each caller opens a connection per operation and closes it
// afterwards, so an abandoned operation never shares a connection with the
// next one; the operating system's TPM resource manager (Linux's
// /dev/tpmrm0, Windows' TPM Base Services) lets several programs use the
// TPM at once. Open only reaches the device: what is missing is said in the
// error, and each caller wraps it in its own "no TPM" sentinel, because
// "no TPM for the session" and "no TPM for the workstation key" lead the
// user to different remedies.
package tpmdev
