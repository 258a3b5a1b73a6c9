// Package lmtpd is a backend's LMTP server: it delivers into the local
// spool the mail that the LMTP proxies (or an MTA) hand it, with one status
// per recipient, and acknowledges only what is durable (and replicated).
package lmtpd
