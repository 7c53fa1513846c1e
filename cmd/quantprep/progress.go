package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// progress shows the pipeline's steps on a terminal; it is quiet when its
// writer is not one, so logs and pipes stay clean.
type progress struct {
	w  io.Writer
	on bool
	// warnings prints the run's warnings even when w is not a terminal, as the
	// reference tool does from --verbose 1 on.
	warnings bool
	// details prints the steps' details and the optimizer's pass times, as
	// the reference tool logs its details at --verbose 3.
	details bool
	start   time.Time
}

func newProgress(w io.Writer, verbose int64) *progress {
	on := false
	if f, ok := w.(*os.File); ok {
		on = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, on: on, warnings: verbose >= 1, details: verbose >= 3, start: time.Now()}
}

func (p *progress) event(e *quantprepv1.Progress) {
	if !p.on {
		return
	}
	phase := strings.ToLower(strings.TrimPrefix(e.GetPhase().String(), "PHASE_"))
	line := fmt.Sprintf("[%d/%d] %-15s %s", e.GetIndex(), e.GetTotal(), e.GetStep(), phase)
	if e.GetMessage() != "" {
		line += ": " + e.GetMessage()
	}
	fmt.Fprintf(p.w, "%s  (%.1fs)\n", line, time.Since(p.start).Seconds())
}

// done prints a one-paragraph summary.
func (p *progress) done(s *quantprepv1.Summary) {
	if p.details {
		for _, st := range s.GetSteps() {
			for _, d := range st.GetDetails() {
				fmt.Fprintf(p.w, "%s: %s\n", st.GetName(), d)
			}
			passTimes(p.w, st)
		}
	}
	if p.on || p.warnings {
		for _, w := range s.GetWarnings() {
			fmt.Fprintf(p.w, "warning: %s\n", w)
		}
	}
	if !p.on {
		return
	}
	fmt.Fprintf(p.w, "done in %.2fs: %d -> %d nodes, full shapes %d/%d -> %d/%d\n",
		float64(s.GetWallTimeMicros())/1e6, s.GetNodesBefore(), s.GetNodesAfter(),
		s.GetFullShapesBefore(), s.GetNodeOutputsBefore(), s.GetFullShapesAfter(), s.GetNodeOutputsAfter())
	files := s.GetFiles()
	if len(files) == 0 {
		return
	}
	fmt.Fprintf(p.w, "wrote %s (%d bytes)", files[0].GetName(), files[0].GetSize())
	if ext := files[1:]; len(ext) > 0 {
		total := int64(0)
		for _, f := range ext {
			total += f.GetSize()
		}
		fmt.Fprintf(p.w, " and %d external data file(s) (%d bytes)", len(ext), total)
	}
	fmt.Fprintln(p.w)
}

// passTimes prints a step's pass times, longest first, on one line.
func passTimes(w io.Writer, st *quantprepv1.StepSummary) {
	times := st.GetPassWallTimeMicros()
	if len(times) == 0 {
		return
	}
	names := make([]string, 0, len(times))
	for n := range times {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if times[names[i]] != times[names[j]] {
			return times[names[i]] > times[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %v", n, time.Duration(times[n])*time.Microsecond)
	}
	fmt.Fprintf(w, "%s: pass times: %s\n", st.GetName(), strings.Join(parts, ", "))
}
