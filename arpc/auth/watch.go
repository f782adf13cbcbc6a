package auth

import (
	"context"
	"os"
	"time"
)

// WatchFiles calls reload whenever one of files changes (size or
// modification time, polled every interval), until ctx ends. It blocks:
// run it on a goroutine the caller owns. Files that cannot be stat'ed are
// skipped until they can (an editor replacing a file).
func WatchFiles(ctx context.Context, interval time.Duration, files []string,
	reload func(),
) {
	type stamp struct {
		size int64
		mod  time.Time
	}
	seen := map[string]stamp{}
	stampOf := func(f string) (stamp, bool) {
		fi, err := os.Stat(f)
		if err != nil {
			return stamp{}, false
		}
		return stamp{fi.Size(), fi.ModTime()}, true
	}
	for _, f := range files {
		if st, ok := stampOf(f); ok {
			seen[f] = st
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed := false
		for _, f := range files {
			st, ok := stampOf(f)
			if ok && st != seen[f] {
				seen[f] = st
				changed = true
			}
		}
		if changed {
			reload()
		}
	}
}
