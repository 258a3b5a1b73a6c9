package bench

import (
	"fmt"
	"html/template"
	"io"
	"sort"
)

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": fmtNum,
	"mib": func(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Rookery bench: {{.R.Kind}}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; background: #fff; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #eef3f8; } td.l, th.l { text-align: left; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #cf222e; font-weight: bold; }
.charts svg { margin: 0 12px 12px 0; } code { background: #f3f3f3; padding: 2px 4px; }
</style></head><body>
<h1>Rookery bench: {{.R.Kind}}</h1>
<p>{{if eq .R.Violations 0}}<span class="ok">No invariant violations seen.</span>{{else}}<span class="bad">{{.R.Violations}} invariant violations.</span>{{end}}
Run of {{printf "%.1f" .R.Seconds}} s against {{range $i, $t := .R.Targets}}{{if $i}}, {{end}}<code>{{$t}}</code>{{end}} on {{.R.Date.Format "2006-01-02 15:04:05 MST"}}.</p>
{{if .R.Command}}<p>Command: <code>{{.R.Command}}</code></p>{{end}}
<p>Machine: {{.R.Machine.Hostname}}, {{.R.Machine.CPUs}} CPUs{{if .R.Machine.CPUModel}} ({{.R.Machine.CPUModel}}){{end}}, {{mib .R.Machine.MemoryBytes}} memory, {{.R.Machine.OS}}/{{.R.Machine.Arch}}, {{.R.Machine.GoVersion}}.</p>
<table><tr>{{range .Params}}<th>{{.}}</th>{{end}}</tr><tr>{{range .Params}}<td>{{index $.R.Params .}}</td>{{end}}</tr></table>
{{if .R.Figures}}<table><tr><th class="l">figure</th><th>value</th></tr>
{{range .R.Figures}}<tr><td class="l">{{.Name}}</td><td>{{num .Value}} {{.Unit}}</td></tr>{{end}}</table>{{end}}
<h2>Commands</h2>
<table><tr><th class="l">op</th><th>count</th><th>errors</th><th>per second</th><th>mean ms</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>
{{range .R.Ops}}<tr><td class="l">{{.Op}}</td><td>{{.Count}}</td><td>{{.Errors}}</td><td>{{num .PerSecond}}</td><td>{{num .Latency.Mean}}</td><td>{{num .Latency.P50}}</td><td>{{num .Latency.P90}}</td><td>{{num .Latency.P99}}</td><td>{{num .Latency.P999}}</td><td>{{num .Latency.Max}}</td></tr>
{{end}}</table>
<div class="charts">{{.Throughput}}</div>
<h2>Latency</h2>
<div class="charts">{{range .Latency}}{{.}}{{end}}</div>
{{if .R.Examples}}<h2>Violations</h2><ul>{{range .R.Examples}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))

// WriteHTML renders the result as one self-contained HTML page.
func (r *Result) WriteHTML(w io.Writer) error {
	data := struct {
		R          *Result
		Params     []string
		Throughput template.HTML
		Latency    []template.HTML
	}{R: r}
	for k := range r.Params {
		data.Params = append(data.Params, k)
	}
	sort.Strings(data.Params)
	if len(r.Ops) > 0 {
		data.Throughput = throughputChart(r.Throughput, r.Ops)
	}
	for i, o := range r.Ops {
		data.Latency = append(data.Latency, latencyChart(o, i))
	}
	return reportTemplate.Execute(w, data)
}
