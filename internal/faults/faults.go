// Package faults holds the fault switches with which the jepsen harness
// shows that its checkers catch a broken cluster. They exist only in a
// binary built with the "faults" tag (go build -tags faults); in any other
// build every hook here returns what it is given, and the production
// binary carries no fault code.
//
// In the tagged build a switch is turned on by an environment variable of
// the node's process, the one exception to "only cmd/ reads the
// environment": the harness starts the binary and cannot reach a config.
package faults
