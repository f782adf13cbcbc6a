// Package backoff is the one retry delay of aRPC Bridge: every retry loop
// (client reconnects on both doors, call retries on both doors, accept
// loops) waits with a [Backoff], so they all grow, cap and give way to
// cancellation the same way.
package backoff
