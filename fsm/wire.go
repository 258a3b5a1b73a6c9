package fsm

// Payloads of each command type: appendTo writes the fields in declaration
// order and the matching decode function reads them back.

func (c Reserve) appendTo(e *encoder) {
	e.string(c.Name)
	e.string(c.Backend)
	e.strings(c.Replicas)
	e.uint(uint64(c.Stride))
	e.string(c.Reservation)
	e.int(c.At)
	e.string(c.SpecialUse)
}

func decodeReserve(d *decoder) Command {
	return Reserve{
		Name:        d.string(),
		Backend:     d.string(),
		Replicas:    d.strings(),
		Stride:      d.uint32(),
		Reservation: d.string(),
		At:          d.int(),
		SpecialUse:  d.string(),
	}
}

func (c Activate) appendTo(e *encoder) { e.string(c.Name); e.string(c.Reservation) }

func decodeActivate(d *decoder) Command {
	return Activate{Name: d.string(), Reservation: d.string()}
}

func (c Release) appendTo(e *encoder) { e.string(c.Name); e.string(c.Reservation) }

func decodeRelease(d *decoder) Command {
	return Release{Name: d.string(), Reservation: d.string()}
}

func (c MarkDeleting) appendTo(e *encoder) { e.string(c.Name) }

func decodeMarkDeleting(d *decoder) Command { return MarkDeleting{Name: d.string()} }

func (c Remove) appendTo(e *encoder) { e.string(c.Name); e.uint(c.ID) }

func decodeRemove(d *decoder) Command { return Remove{Name: d.string(), ID: d.uint()} }

func (c Rename) appendTo(e *encoder) { e.string(c.From); e.string(c.To) }

func decodeRename(d *decoder) Command { return Rename{From: d.string(), To: d.string()} }

func (c SetACL) appendTo(e *encoder) {
	e.string(c.Name)
	e.string(c.Identifier)
	e.string(c.Rights)
}

func decodeSetACL(d *decoder) Command {
	return SetACL{Name: d.string(), Identifier: d.string(), Rights: d.string()}
}

func (c UserAdd) appendTo(e *encoder) {
	e.string(c.Name)
	e.string(c.PasswordHash)
	e.int(c.QuotaBytes)
	e.int(c.At)
}

func decodeUserAdd(d *decoder) Command {
	return UserAdd{Name: d.string(), PasswordHash: d.string(), QuotaBytes: d.int(), At: d.int()}
}

func (c UserPasswd) appendTo(e *encoder) { e.string(c.Name); e.string(c.PasswordHash) }

func (c UserQuota) appendTo(e *encoder) { e.string(c.Name); e.int(c.QuotaBytes) }

func decodeUserQuota(d *decoder) Command {
	return UserQuota{Name: d.string(), QuotaBytes: d.int()}
}

func (c UserAdmin) appendTo(e *encoder) { e.string(c.Name); e.byte(boolByte(c.Admin)) }

func decodeUserAdmin(d *decoder) Command { return UserAdmin{Name: d.string(), Admin: d.bool()} }

func decodeUserPasswd(d *decoder) Command {
	return UserPasswd{Name: d.string(), PasswordHash: d.string()}
}

func (c UserDelete) appendTo(e *encoder) { e.string(c.Name) }

func decodeUserDelete(d *decoder) Command { return UserDelete{Name: d.string()} }

func (c Subscribe) appendTo(e *encoder) { e.string(c.User); e.string(c.Name) }

func decodeSubscribe(d *decoder) Command { return Subscribe{User: d.string(), Name: d.string()} }

func (c Unsubscribe) appendTo(e *encoder) { e.string(c.User); e.string(c.Name) }

func decodeUnsubscribe(d *decoder) Command {
	return Unsubscribe{User: d.string(), Name: d.string()}
}

func (c BackendRegister) appendTo(e *encoder) {
	e.string(c.ID)
	e.string(c.IMAPAddr)
	e.string(c.LMTPAddr)
	e.string(c.APIAddr)
	e.uint(uint64(c.Weight))
	e.int(c.At)
}

func decodeBackendRegister(d *decoder) Command {
	return BackendRegister{
		ID:       d.string(),
		IMAPAddr: d.string(),
		LMTPAddr: d.string(),
		APIAddr:  d.string(),
		Weight:   d.uint32(),
		At:       d.int(),
	}
}

func (c SetBackendState) appendTo(e *encoder) {
	e.string(c.ID)
	e.byte(byte(c.State))
	e.int(c.At)
}

func decodeSetBackendState(d *decoder) Command {
	return SetBackendState{ID: d.string(), State: BackendState(d.byte()), At: d.int()}
}

func (c ReleaseReservations) appendTo(e *encoder) { e.string(c.Backend); e.int(c.Before) }

func decodeReleaseReservations(d *decoder) Command {
	return ReleaseReservations{Backend: d.string(), Before: d.int()}
}

func (c RemoveDeletions) appendTo(e *encoder) { e.string(c.Backend) }

func decodeRemoveDeletions(d *decoder) Command { return RemoveDeletions{Backend: d.string()} }

func (Noop) appendTo(*encoder) {}
