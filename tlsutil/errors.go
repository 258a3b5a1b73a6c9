package tlsutil

import "errors"

// Errors of the TLS material helpers.
var (
	// ErrExists: the file would overwrite existing key material. Keys are
	// never replaced silently; the operator removes them first.
	ErrExists = errors.New("tlsutil: key material already exists")
	// ErrBadPEM: a file holds no PEM block of the expected type.
	ErrBadPEM = errors.New("tlsutil: no usable PEM block")
	// ErrBadHost: a name given for a certificate is neither an IP address
	// nor a DNS name.
	ErrBadHost = errors.New("tlsutil: invalid host name")
	// ErrBadGossipKey: the gossip key file is too short or malformed.
	ErrBadGossipKey = errors.New("tlsutil: invalid gossip key")
)
