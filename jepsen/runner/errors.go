package runner

import "errors"

// ErrBadOptions: the run cannot be made as asked.
var ErrBadOptions = errors.New("runner: bad options")
