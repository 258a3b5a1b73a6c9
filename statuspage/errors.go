package statuspage

import "errors"

// ErrUnavailable: the data source could not describe the cluster in time.
var ErrUnavailable = errors.New("statuspage: cluster status unavailable")
