package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// formatValue prints v in unit u.
func formatValue(v float64, u unit) string {
	if math.IsNaN(v) {
		return "—"
	}
	switch u {
	case unitDur:
		switch {
		case v < 1e3:
			return fmt.Sprintf("%.0f ns", v)
		case v < 1e6:
			return fmt.Sprintf("%.1f µs", v/1e3)
		case v < 1e9:
			return fmt.Sprintf("%.2f ms", v/1e6)
		}
		return fmt.Sprintf("%.2f s", v/1e9)
	case unitBytes:
		switch {
		case v < 1<<10:
			return fmt.Sprintf("%.0f B", v)
		case v < 1<<20:
			return fmt.Sprintf("%.1f KiB", v/(1<<10))
		case v < 1<<30:
			return fmt.Sprintf("%.1f MiB", v/(1<<20))
		}
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case unitRatio:
		return ratioText(v)
	case unitPerSec:
		if v < 10 {
			return fmt.Sprintf("%.2f/s", v)
		}
		return thousands(int64(math.Round(v))) + "/s"
	case unitRate:
		if v < 10 {
			return fmt.Sprintf("%.2f MB/s", v)
		}
		return fmt.Sprintf("%.0f MB/s", v)
	}
	if v < 0 {
		return "—"
	}
	if v == math.Trunc(v) {
		return thousands(int64(v))
	}

	return fmt.Sprintf("%.2f", v)
}

// thousands prints n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}

	return b.String()
}

// formatRatio prints v/base as "1.23×", or "" when there is no ratio.
func formatRatio(v, base float64) string {
	if math.IsNaN(v) || math.IsNaN(base) || base <= 0 || v < 0 {
		return ""
	}
	r := v / base
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	}

	return fmt.Sprintf("%.2f×", r)
}
