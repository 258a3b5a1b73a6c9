// Package imapfront is the IMAP frontend: a proxy that makes many backends
// look like one IMAP server. It answers login and the mailbox-list commands
// from the local directory copy, routes CREATE, DELETE and RENAME through
// the directory, and relays the selected state to the mailbox's primary
// backend byte for byte. See DESIGN.md beside it.
package imapfront
