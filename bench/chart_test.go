package bench

import (
	"fmt"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Bar colours by kind of target, so golvs stands out from the floor and
// from the alternatives.
var kindColor = map[string]color.Color{
	"floor": color.RGBA{R: 150, G: 150, B: 150, A: 255},
	"golvs": color.RGBA{R: 31, G: 119, B: 180, A: 255},
	"other": color.RGBA{R: 255, G: 127, B: 14, A: 255},
}

// chart draws mode m's median requests/s per target as bars, with
// whiskers from the smallest to the largest round, into a PNG at path.
func chart(path string, m mode, targets []target, res results) error {
	p := plot.New()
	p.Title.Text = m.title
	p.Y.Label.Text = "per second (median of rounds; whiskers: min to max)"
	p.Y.Min = 0
	var (
		xys    plotter.XYs
		errs   plotter.YErrors
		top    plotter.XYs
		labels []string
		names  []string
	)
	for i, t := range targets {
		s := summarize(res[m.key][t.key])
		bar, err := plotter.NewBarChart(plotter.Values{s.Median}, vg.Points(28))
		if err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
		bar.XMin = float64(i)
		bar.Color = kindColor[t.kind]
		bar.LineStyle.Width = 0
		p.Add(bar)
		xys = append(xys, plotter.XY{X: float64(i), Y: s.Median})
		errs = append(errs, struct{ Low, High float64 }{s.Median - s.Min, s.Max - s.Median})
		top = append(top, plotter.XY{X: float64(i), Y: s.Max})
		labels = append(labels, fmt.Sprintf("%.0f", s.Median))
		names = append(names, strings.Replace(t.short, " ", "\n", 1))
	}
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYer
		plotter.YErrorer
	}{xys, errs})
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	eb.LineStyle.Width = vg.Points(1.2)
	p.Add(eb)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: top, Labels: labels})
	if err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].XAlign = -0.5 // centred over the bar
		lb.TextStyle[i].YAlign = 0
	}
	lb.Offset = vg.Point{Y: vg.Points(3)}
	p.Add(lb)
	p.NominalX(names...)
	p.Y.Max *= 1.08 // room for the labels
	if err := p.Save(9*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("chart %s: %w", path, err)
	}
	return nil
}
