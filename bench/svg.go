package bench

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
)

// The charts are inline SVG drawn here, so a report is one file that opens
// anywhere with no script and nothing fetched from the network.

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
	"#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#843c39"}

func color(i int) string { return palette[i%len(palette)] }

// niceTicks returns about n round tick values from 0 to at least hi.
func niceTicks(hi float64, n int) []float64 {
	if hi <= 0 {
		hi = 1
	}
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := 0.0; v < hi+step; v += step {
		ticks = append(ticks, v)
	}
	return ticks
}

func fmtNum(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.4g", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}

type canvas struct {
	b                        strings.Builder
	w, h                     float64
	left, right, top, bottom float64
}

func newCanvas(w, h float64, title string) *canvas {
	c := &canvas{w: w, h: h, left: 60, right: 20, top: 30, bottom: 40}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(&c.b, `<rect width="100%%" height="100%%" fill="#fbfbfd"/>`)
	fmt.Fprintf(&c.b, `<text x="%.0f" y="18" font-size="13" font-weight="bold">%s</text>`, c.left, template.HTMLEscapeString(title))
	return c
}

func (c *canvas) plotW() float64 { return c.w - c.left - c.right }
func (c *canvas) plotH() float64 { return c.h - c.top - c.bottom }

// yAxis draws horizontal grid lines with labels and returns the scale.
func (c *canvas) yAxis(hi float64, label string) func(float64) float64 {
	ticks := niceTicks(hi, 5)
	top := ticks[len(ticks)-1]
	y := func(v float64) float64 { return c.top + c.plotH()*(1-v/top) }
	for _, t := range ticks {
		fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, c.left, c.w-c.right, y(t), y(t))
		fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, c.left-4, y(t)+4, fmtNum(t))
	}
	fmt.Fprintf(&c.b, `<text transform="translate(12,%.1f) rotate(-90)" text-anchor="middle">%s</text>`, c.top+c.plotH()/2, label)
	return y
}

func (c *canvas) xLabel(label string) {
	fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, c.left+c.plotW()/2, c.h-6, label)
}

func (c *canvas) done() template.HTML {
	fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`, c.left, c.top, c.plotW(), c.plotH())
	c.b.WriteString(`</svg>`)
	return template.HTML(c.b.String())
}

// throughputChart draws commands per second over time, one line per op
// and the total.
func throughputChart(s Series, ops []OpStats) template.HTML {
	c := newCanvas(1000, 340, "Throughput (commands per second)")
	c.right = 160
	n := 0
	for _, v := range s.Counts {
		n = max(n, len(v))
	}
	total := make([]float64, n)
	for _, v := range s.Counts {
		for i, k := range v {
			total[i] += float64(k) / s.BucketSeconds
		}
	}
	y := c.yAxis(slices.Max(append(total, 1)), "per second")
	x := func(i int) float64 { return c.left + c.plotW()*(float64(i)+0.5)/float64(max(n, 1)) }
	for _, t := range niceTicks(float64(n)*s.BucketSeconds, 8) {
		if t > float64(n)*s.BucketSeconds {
			break
		}
		px := c.left + c.plotW()*t/(float64(n)*s.BucketSeconds)
		fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, px, c.top+c.plotH()+14, fmtNum(t))
	}
	c.xLabel("seconds since start")
	line := func(vals []float64, stroke string, width float64) {
		var pts strings.Builder
		for i, v := range vals {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
		}
		fmt.Fprintf(&c.b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" points="%s"/>`, stroke, width, pts.String())
	}
	// The total gets a filled area, so the plot reads at a glance.
	var area strings.Builder
	fmt.Fprintf(&area, "%.1f,%.1f ", x(0), y(0))
	for i, v := range total {
		fmt.Fprintf(&area, "%.1f,%.1f ", x(i), y(v))
	}
	fmt.Fprintf(&area, "%.1f,%.1f", x(n-1), y(0))
	fmt.Fprintf(&c.b, `<polygon fill="#c6dbef" fill-opacity="0.6" points="%s"/>`, area.String())
	line(total, "#08306b", 2.5)
	legend := func(i int, name, stroke string) {
		ly := c.top + 14*float64(i)
		fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`, c.w-c.right+10, c.w-c.right+30, ly, ly, stroke)
		fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f">%s</text>`, c.w-c.right+34, ly+4, name)
	}
	legend(0, "total", "#08306b")
	for i, o := range ops {
		vals := make([]float64, n)
		for j, k := range s.Counts[o.Op] {
			vals[j] = float64(k) / s.BucketSeconds
		}
		line(vals, color(i), 1.5)
		legend(i+1, o.Op, color(i))
	}
	return c.done()
}

// latencyChart draws one op's latency histogram on a log time axis, with
// the median and 99th percentile marked.
func latencyChart(o OpStats, i int) template.HTML {
	c := newCanvas(480, 220, fmt.Sprintf("%s latency (%d samples)", o.Op, o.Count))
	c.left = 50
	counts := make([]float64, len(o.Histogram))
	for j, b := range o.Histogram {
		counts[j] = float64(b.Count)
	}
	y := c.yAxis(slices.Max(append(counts, 1)), "count")
	lo, hi := math.Log10(o.Histogram[0].Lo), math.Log10(o.Histogram[len(o.Histogram)-1].Hi)
	x := func(v float64) float64 { return c.left + c.plotW()*(math.Log10(v)-lo)/(hi-lo) }
	for _, b := range o.Histogram {
		if b.Count > 0 {
			fmt.Fprintf(&c.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`,
				x(b.Lo)+0.5, y(float64(b.Count)), max(x(b.Hi)-x(b.Lo)-1, 1), y(0)-y(float64(b.Count)), color(i))
		}
	}
	for e := math.Ceil(lo * 2); e <= hi*2; e++ {
		v := math.Pow(10, e/2)
		fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x(v), c.top+c.plotH()+14, fmtNum(v))
	}
	for _, m := range []struct {
		name string
		v    float64
	}{{"p50", o.Latency.P50}, {"p99", o.Latency.P99}} {
		px := x(max(m.v, o.Histogram[0].Lo))
		fmt.Fprintf(&c.b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#222" stroke-dasharray="4 3"/>`, px, px, c.top, c.top+c.plotH())
		fmt.Fprintf(&c.b, `<text x="%.1f" y="%.1f">%s</text>`, px+3, c.top+11, m.name)
	}
	c.xLabel("milliseconds (log scale)")
	return c.done()
}
