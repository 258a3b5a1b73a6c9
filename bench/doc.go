// Package bench is the load generator behind `rookery bench` and
// scripts/bench.sh: mixed IMAP loads in the style of imaptest, LMTP
// deliveries and directory operations, with their checks and reports.
package bench
