package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// screen shows --watch frames on a terminal. Each frame is drawn from the
// top of the alternate screen (as less and top do), every line wrapped to
// the terminal's width by the frame itself and the frame cut to its height: a frame never wraps or
// scrolls, so nothing of an earlier frame can be left behind, whatever the
// width, and a resize is simply the next frame. close leaves the alternate
// screen, so the shell's scrollback is as it was, and prints the last frame
// whole.
type screen struct {
	w      io.Writer
	size   func() (width, height int) // the terminal's, read at each frame
	active bool
}

// Sequences from ECMA-48 and xterm, which every terminal in use understands.
const (
	enterAltScreen = "\x1b[?1049h"
	leaveAltScreen = "\x1b[?1049l"
	cursorHome     = "\x1b[H"
	clearLineEnd   = "\x1b[K"
	clearBelow     = "\x1b[J"
	hideCursor     = "\x1b[?25l"
	showCursor     = "\x1b[?25h"
)

// draw replaces the screen with frame, in a single write (no flicker).
func (s *screen) draw(frame []string) {
	var b bytes.Buffer
	if !s.active {
		b.WriteString(enterAltScreen + hideCursor)
		s.active = true
	}
	b.WriteString(cursorHome)
	width, height := s.size()
	for i, l := range fitFrame(frame, width, height) {
		if i > 0 {
			b.WriteString("\r\n")
		}
		// Cleared before it is written: after a line of the full width the
		// cursor stays on the last column, which a clear would erase.
		b.WriteString(clearLineEnd + l)
	}
	b.WriteString(clearBelow)
	_, _ = s.w.Write(b.Bytes())
}

// close leaves the alternate screen and prints the last frame in full, where
// it stays in the scrollback.
func (s *screen) close(last []string) {
	if s.active {
		_, _ = io.WriteString(s.w, showCursor+leaveAltScreen)
		s.active = false
	}
	if len(last) > 0 {
		fmt.Fprintln(s.w, strings.Join(last, "\n"))
	}
}

// fitFrame wraps each line to width columns (wide characters count twice;
// a continued line is indented under its start) and cuts the frame to
// height lines, the last of which then says how many are not shown. The top
// of the frame (run, state, the waiting gate and its commands) is what
// matters most, so it is kept.
func fitFrame(frame []string, width, height int) []string {
	if width <= 0 || height <= 0 {
		return frame
	}
	var out []string
	for _, l := range frame {
		out = append(out, wrapLine(l, width)...)
	}
	if len(out) > height {
		hidden := len(out) - height + 1
		out = append(out[:height-1], runewidth.Truncate(fmt.Sprintf("… %d more lines (a taller terminal shows them)", hidden), width, "…"))
	}
	return out
}

// wrapLine breaks l into lines of at most width columns, at spaces where it
// can; the lines after the first are indented two more than l.
func wrapLine(l string, width int) []string {
	if runewidth.StringWidth(l) <= width {
		return []string{l}
	}
	indent := len(l) - len(strings.TrimLeft(l, " ")) + 2
	if indent > width/2 {
		indent = 0
	}
	var out []string
	rest := l
	for first := true; rest != ""; first = false {
		prefix := ""
		if !first {
			prefix = strings.Repeat(" ", indent)
			rest = strings.TrimLeft(rest, " ")
		}
		room := width - len(prefix)
		if runewidth.StringWidth(rest) <= room {
			out = append(out, prefix+rest)
			break
		}
		head := runewidth.Truncate(rest, room, "")
		// Break at the last space that fits, unless the line breaks at a
		// space anyway; a word longer than the room is cut.
		if next := rest[len(head):]; !strings.HasPrefix(next, " ") && !strings.HasSuffix(head, " ") {
			if i := strings.LastIndexByte(head, ' '); i > 0 {
				head = head[:i]
			}
		}
		out = append(out, strings.TrimRight(prefix+head, " "))
		rest = rest[len(head):]
	}
	return out
}

// terminalSize is the size of the terminal on f, or 0, 0 when unknown (the
// frame is then not cut).
func terminalSize(f *os.File) func() (int, int) {
	return func() (int, int) {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0, 0
		}
		return w, h
	}
}
