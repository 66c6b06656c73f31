//go:build tools

// Pins pREST (the peer of bench/rest) so that `go build github.com/prest/prest/cmd/prestd` builds it.
package tools

import _ "github.com/prest/prest/cmd/prestd"
