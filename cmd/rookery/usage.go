package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errUsage is what every command line that cannot run is (errors.Is): a
// *usageError says what is wrong with it in one line.
var errUsage = errors.New("usage")

// errHelp is what parseFlags returns once it has printed the help asked
// for: the command stops there and succeeds (helpDone).
var errHelp = errors.New("help printed")

// helpDone is err, or nil when err is errHelp.
func helpDone(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// errReported is returned once a command has printed its own error (as
// JSON, with --json); the process exits 1 without printing it again.
var errReported = errors.New("error reported")

// usageError is a command line that cannot run: what is wrong with it, and
// the command whose --help to read.
type usageError struct{ cmd, msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// usageErrorf is a usageError of command cmd ("admin", "tls issue").
func usageErrorf(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// parseFlags parses args into fs. -h or --help prints usage and the flags
// to stdout and returns errHelp; a flag it does not know is a usageError
// of one line (the flag package would print the whole usage).
func parseFlags(fs *flag.FlagSet, cmd, usage string, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printUsage(fs, usage, stdout)
		return errHelp
	default:
		return usageErrorf(cmd, "%s", err.Error())
	}
}

// printUsage writes a command's usage text and its flags to w.
func printUsage(fs *flag.FlagSet, usage string, w io.Writer) {
	fmt.Fprint(w, usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }

// hoistFlags moves the flags fs defines from anywhere in args to the
// front, so that `admin status --addr X` parses as `admin --addr X status`.
// Flags fs does not define (a command's own, like --yes) stay where they
// are, and so does everything after "--".
func hoistFlags(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || a == "-" || f == nil {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && bf.IsBoolFlag()) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(flags, rest...)
}
