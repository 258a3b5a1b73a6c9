package spool

import (
	"bufio"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// The body structure of a message is computed in one pass over its file,
// holding no part in memory: a leaf part's size and line count are counted
// as it streams by, and only headers are read whole. A header is read
// under a bound (maxHeaderLine without a line break, maxPartDepth levels of
// nesting), so the memory a message of any size costs stays small; past a
// bound the rest of the part is counted as opaque content, its structure
// unparsed.
const (
	maxHeaderLine = 1 << 20
	maxPartDepth  = 64
)

var errLongHeaderLine = errors.New("spool: header line too long")

// countReader counts the bytes and line feeds read through it.
type countReader struct {
	r     io.Reader
	n     int64
	lines int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	for _, b := range p[:n] {
		if b == '\n' {
			c.lines++
		}
	}
	return n, err
}

// lineGuard fails a read, while armed, once a line has grown past
// maxHeaderLine bytes: it is armed only while a header is read, so a long
// line in a part's content costs nothing and one in a header is refused
// before it is held.
type lineGuard struct {
	r     io.Reader
	armed bool
	run   int // bytes since the last line feed, while armed
}

func (g *lineGuard) arm()    { g.armed, g.run = true, 0 }
func (g *lineGuard) disarm() { g.armed = false }

func (g *lineGuard) Read(p []byte) (int, error) {
	if !g.armed {
		return g.r.Read(p)
	}
	if g.run >= maxHeaderLine {
		return 0, errLongHeaderLine
	}
	if len(p) > maxHeaderLine-g.run {
		p = p[:maxHeaderLine-g.run]
	}
	n, err := g.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			g.run = 0
		} else {
			g.run++
		}
	}
	return n, err
}

// readBodyStructure reads a whole message from r and returns its envelope
// and body structure.
func readBodyStructure(r io.Reader) (*imap.Envelope, imap.BodyStructure) {
	g := &lineGuard{r: r}
	br := bufio.NewReader(g)
	g.arm()
	h, err := textproto.ReadHeader(br)
	g.disarm()
	if err != nil && !errors.Is(err, errLongHeaderLine) {
		h = textproto.Header{} // a message without a header still has a body structure
	}
	bs := partStructure(h, br, 0)
	return extractEnvelope(h), bs
}

// partStructure reads the content of one part, whose header is h, to its
// end.
func partStructure(h textproto.Header, r io.Reader, depth int) imap.BodyStructure {
	header := gomessage.Header{Header: h}
	mediaType, params, _ := header.ContentType()
	primary, sub, _ := strings.Cut(mediaType, "/")
	c := &countReader{r: r}
	if primary == "multipart" && depth < maxPartDepth {
		bs := &imap.BodyStructureMultiPart{Subtype: sub}
		g := &lineGuard{r: c}
		mr := textproto.NewMultipartReader(g, params["boundary"])
		for {
			g.arm()
			part, err := mr.NextPart()
			g.disarm()
			if err != nil || part == nil {
				break
			}
			bs.Children = append(bs.Children, partStructure(part.Header, part, depth+1))
		}
		io.Copy(io.Discard, g) // the epilogue, or what a broken boundary left
		bs.Extended = &imap.BodyStructureMultiPartExt{
			Params:      params,
			Disposition: contentDisposition(header),
			Language:    contentLanguage(header),
			Location:    header.Get("Content-Location"),
		}
		return bs
	}
	bs := &imap.BodyStructureSinglePart{
		Type:        primary,
		Subtype:     sub,
		Params:      params,
		ID:          header.Get("Content-Id"),
		Description: header.Get("Content-Description"),
		Encoding:    header.Get("Content-Transfer-Encoding"),
	}
	if (mediaType == "message/rfc822" || mediaType == "message/global") && depth < maxPartDepth {
		g := &lineGuard{r: c}
		br := bufio.NewReader(g)
		g.arm()
		inner, err := textproto.ReadHeader(br)
		g.disarm()
		if err != nil && !errors.Is(err, errLongHeaderLine) {
			inner = textproto.Header{}
		}
		msg := &imap.BodyStructureMessageRFC822{
			Envelope:      extractEnvelope(inner),
			BodyStructure: partStructure(inner, br, depth+1),
		}
		io.Copy(io.Discard, br)
		msg.NumLines = c.lines
		bs.MessageRFC822 = msg
	} else {
		io.Copy(io.Discard, c)
	}
	bs.Size = uint32(c.n)
	if primary == "text" {
		bs.Text = &imap.BodyStructureText{NumLines: c.lines}
	}
	bs.Extended = &imap.BodyStructureSinglePartExt{
		Disposition: contentDisposition(header),
		Language:    contentLanguage(header),
		Location:    header.Get("Content-Location"),
	}
	return bs
}

func contentDisposition(h gomessage.Header) *imap.BodyStructureDisposition {
	disp, params, _ := h.ContentDisposition()
	if disp == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: disp, Params: params}
}

func contentLanguage(h gomessage.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	langs := strings.Split(v, ",")
	for i, l := range langs {
		langs[i] = strings.TrimSpace(l)
	}
	return langs
}
