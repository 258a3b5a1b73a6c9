package imapfront

import (
	"errors"
	"io"
)

// inflater decodes a raw DEFLATE stream (RFC 1951), a compressed client's
// commands, and hands out what a block held as soon as the block ends.
// compress/flate does not: it keeps a block's output until its window
// fills or an empty stored block (a sync flush) comes, so a client that
// ends each command with zlib's Z_PARTIAL_FLUSH (a block end and an empty
// fixed-code block, as isync's mbsync does) would wait for an answer to a
// command the server never saw. Decoding is bit by bit through canonical
// codes: a client's commands are small, and even a large APPEND decodes
// faster than it crosses a network.
type inflater struct {
	r     io.ByteReader
	bits  uint32 // bits read and not used, low bit first
	nbits uint

	win   [1 << 15]byte // the last 32 KiB written
	total int64         // bytes written since the start
	out   []byte        // where decoded bytes go: the caller's buffer

	inBlock bool // a block has begun and not ended
	final   bool // the block is the stream's last
	stored  int  // bytes left of a stored block; -1 in a coded block
	copyLen int  // bytes left of a back-reference the caller's buffer cut
	copyAt  int64
	lit     huffman
	dist    huffman
	err     error
}

func newInflater(r io.ByteReader) *inflater { return &inflater{r: r} }

var errCorrupt = errors.New("imapfront: corrupt DEFLATE stream")

// Read decodes into p, up to the end of the block that is being decoded
// or a full p, whichever comes first; it waits for input only when it has
// nothing for p.
func (z *inflater) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	z.out = p[:0:len(p)] // cap is where step stops
	for len(z.out) == 0 && z.err == nil {
		z.err = z.step()
	}
	n := len(z.out)
	z.out = nil
	if n > 0 {
		return n, nil
	}
	return 0, z.err
}

// step decodes until the block ends or the caller's buffer is full; it
// reads no input past a block's end.
func (z *inflater) step() error {
	for ; z.copyLen > 0 && len(z.out) < cap(z.out); z.copyLen-- {
		z.put(z.win[z.copyAt&(int64(len(z.win))-1)])
		z.copyAt++
	}
	if len(z.out) == cap(z.out) {
		return nil
	}
	if !z.inBlock {
		if z.final {
			return io.EOF
		}
		if err := z.header(); err != nil {
			return err
		}
	}
	if z.stored >= 0 {
		for z.stored > 0 && len(z.out) < cap(z.out) {
			b, err := z.r.ReadByte()
			if err != nil {
				return unexpected(err)
			}
			z.put(b)
			z.stored--
		}
		if z.stored == 0 {
			z.inBlock = false
		}
		return nil
	}
	for len(z.out) < cap(z.out) {
		sym, err := z.decode(&z.lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			z.put(byte(sym))
		case sym == 256:
			z.inBlock = false
			return nil
		case sym > 285:
			return errCorrupt
		default:
			sym -= 257
			n, err := z.getBits(lengthExtra[sym])
			if err != nil {
				return err
			}
			length := int(lengthBase[sym]) + int(n)
			ds, err := z.decode(&z.dist)
			if err != nil {
				return err
			}
			if ds > 29 {
				return errCorrupt
			}
			n, err = z.getBits(distExtra[ds])
			if err != nil {
				return err
			}
			d := int64(distBase[ds]) + int64(n)
			if d > z.total {
				return errCorrupt // farther back than the stream
			}
			z.copyLen, z.copyAt = length, z.total-d
			for ; z.copyLen > 0 && len(z.out) < cap(z.out); z.copyLen-- {
				z.put(z.win[z.copyAt&(int64(len(z.win))-1)])
				z.copyAt++
			}
		}
	}
	return nil
}

func (z *inflater) put(b byte) {
	z.win[z.total&(int64(len(z.win))-1)] = b
	z.total++
	z.out = append(z.out, b)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (z *inflater) getBits(n uint8) (uint32, error) {
	for z.nbits < uint(n) {
		b, err := z.r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		z.bits |= uint32(b) << z.nbits
		z.nbits += 8
	}
	v := z.bits & (1<<n - 1)
	z.bits >>= n
	z.nbits -= uint(n)
	return v, nil
}

// header reads a block's header and, for a coded block, its codes.
func (z *inflater) header() error {
	h, err := z.getBits(3)
	if err != nil {
		return err
	}
	z.final = h&1 == 1
	z.inBlock = true
	z.stored = -1
	switch h >> 1 {
	case 0:
		z.bits, z.nbits = 0, 0 // to the byte boundary
		var lens [4]byte
		for i := range lens {
			b, err := z.r.ReadByte()
			if err != nil {
				return unexpected(err)
			}
			lens[i] = b
		}
		n := int(lens[0]) | int(lens[1])<<8
		if n != ^(int(lens[2])|int(lens[3])<<8)&0xffff {
			return errCorrupt
		}
		z.stored = n
		return nil
	case 1:
		z.lit, z.dist = fixedLit, fixedDist
		return nil
	case 2:
		return z.dynamic()
	}
	return errCorrupt
}

// codeLengthOrder is the order of the code length code's lengths.
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (z *inflater) dynamic() error {
	v, err := z.getBits(14)
	if err != nil {
		return err
	}
	nlen, ndist, ncode := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlen > 286 || ndist > 30 {
		return errCorrupt
	}
	var lengths [286 + 30]uint8
	for i := range ncode {
		l, err := z.getBits(3)
		if err != nil {
			return err
		}
		lengths[codeLengthOrder[i]] = uint8(l)
	}
	var lencode huffman
	if complete, ok := lencode.build(lengths[:19]); !ok || !complete {
		return errCorrupt
	}
	clear(lengths[:19])
	for i := 0; i < nlen+ndist; {
		sym, err := z.decode(&lencode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var repeat uint32
		var l uint8
		switch sym {
		case 16:
			if i == 0 {
				return errCorrupt
			}
			l = lengths[i-1]
			repeat, err = z.getBits(2)
			repeat += 3
		case 17:
			repeat, err = z.getBits(3)
			repeat += 3
		default:
			repeat, err = z.getBits(7)
			repeat += 11
		}
		if err != nil {
			return err
		}
		if i+int(repeat) > nlen+ndist {
			return errCorrupt
		}
		for range repeat {
			lengths[i] = l
			i++
		}
	}
	if lengths[256] == 0 {
		return errCorrupt // no end of block
	}
	// An incomplete code is allowed only when it has a single code.
	if complete, ok := z.lit.build(lengths[:nlen]); !ok || !complete && z.lit.codes() != 1 {
		return errCorrupt
	}
	if complete, ok := z.dist.build(lengths[nlen : nlen+ndist]); !ok || !complete && z.dist.codes() != 1 {
		return errCorrupt
	}
	return nil
}

// huffman is a canonical code: how many codes each length has, and the
// symbols in code order.
type huffman struct {
	count  [16]uint16
	symbol [288]uint16
}

// build makes h from code lengths: ok is false for an over-subscribed
// set, complete whether every code of the lengths is used.
func (h *huffman) build(lengths []uint8) (complete, ok bool) {
	h.count = [16]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	if int(h.count[0]) == len(lengths) {
		// No codes: a block of literals only may send its distance code
		// so, and decoding a symbol of it fails.
		return true, true
	}
	left := 1
	for l := 1; l < 16; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return false, false
		}
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	return left == 0, true
}

func (h *huffman) codes() int {
	n := 0
	for l := 1; l < 16; l++ {
		n += int(h.count[l])
	}
	return n
}

// decode reads one symbol of h.
func (z *inflater) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := z.getBits(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+(code-first)]), nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, errCorrupt
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	fixedLit, fixedDist = fixedCodes()
)

func fixedCodes() (lit, dist huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	lit.build(l[:])
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	dist.build(d[:])
	return lit, dist
}
