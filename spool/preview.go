package spool

import (
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	_ "github.com/emersion/go-message/charset" // decodes the charsets of text parts
	"github.com/emersion/go-message/mail"
)

// PreviewLength is the most characters a preview has (RFC 8970
// section 3.1).
const PreviewLength = 256

// previewRead bounds what a preview reads of a text part.
const previewRead = 16 << 10

// Preview is a short text of body guid for a client to show beside its
// subject (RFC 8970): the start of its first text/plain part, else of its
// first text/html part with the markup taken out, its white space run
// together, at most PreviewLength characters; "" when it has no text.
func (s *Store) Preview(guid string) (string, error) {
	r, err := s.Body(guid)
	if err != nil {
		return "", err
	}
	defer r.Close()
	return preview(r), nil
}

func preview(r io.Reader) string {
	mr, err := mail.CreateReader(r)
	if err != nil && mr == nil {
		return ""
	}
	html := ""
	for {
		p, err := mr.NextPart()
		if err != nil || p == nil {
			break
		}
		h, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue
		}
		ct, _, _ := h.ContentType()
		switch {
		case ct == "text/plain" || ct == "":
			b, _ := io.ReadAll(io.LimitReader(p.Body, previewRead))
			return clip(string(b))
		case ct == "text/html" && html == "":
			b, _ := io.ReadAll(io.LimitReader(p.Body, previewRead))
			html = string(b)
		}
	}
	return clip(stripHTML(html))
}

var (
	reHTMLHidden = regexp.MustCompile(`(?is)<(style|script|head)\b.*?</(style|script|head)\s*>`)
	reHTMLTag    = regexp.MustCompile(`(?s)<[^>]*>`)
	htmlEntities = strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&apos;", "'")
)

func stripHTML(s string) string {
	s = reHTMLHidden.ReplaceAllString(s, " ")
	s = reHTMLTag.ReplaceAllString(s, " ")
	return htmlEntities.Replace(s)
}

// clip runs s's white space together into single spaces and keeps at
// most PreviewLength characters of valid UTF-8.
func clip(s string) string {
	var b strings.Builder
	space, n := false, 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) && !unicode.IsSpace(r) {
			continue
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if n == PreviewLength {
			break
		}
		if space {
			if n+1 == PreviewLength {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
