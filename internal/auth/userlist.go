package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"

	"jwtauth/internal/store"
)

// Paging limits of ListUsers.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// MaxCount is where ListUsers stops counting: a page's totals say "at
	// least this many" past it (TotalCapped), so that no page reads more
	// than this many rows to count them, whatever the table holds.
	MaxCount = 10_000
)

// ErrBadCursor answers a cursor that ListUsers did not hand out for this
// search: altered, cut, from another search, or signed with a key since
// rotated away.
var ErrBadCursor = &Error{Kind: KindInvalid,
	Message: "Failed! The cursor is not valid for this search: start again from the first page."}

// ErrPageTooDeep answers a numbered page past the first MaxCount users of
// a search that has more: skipping rows costs what they are, so the way
// further is a cursor, which costs the same at any depth.
var ErrPageTooDeep = &Error{Kind: KindInvalid,
	Message: "Failed! Numbered pages reach the first 10000 users: follow next from an earlier page, or narrow q."}

// UserPage is one page of users, in the shape of the original author's
// pagination tutorial, plus Next: the cursor of the page after it.
type UserPage struct {
	// TotalItems counts the users the search matches, up to MaxCount;
	// TotalCapped says there are more than that.
	TotalItems  int64
	TotalCapped bool
	Users       []UserInfo
	TotalPages  int64
	CurrentPage int
	// Next fetches the following page (ListQuery.Cursor); empty on the
	// last one.
	Next string
}

// ListQuery asks ListUsers for a page: page number Page (from 0) of Size
// users, or the page a Cursor from an earlier answer points at, of the
// users whose username or email starts with Q (ignoring case).
type ListQuery struct {
	Q          string
	Page, Size int
	Cursor     string
}

// ListUsers returns a page of users ordered by id. A page past the end is
// empty. Its cost follows the page, not the table: a cursor continues
// from an id (no rows skipped), a search reads the key indexes, the count
// stops at MaxCount, and so do numbered pages (ErrPageTooDeep), which
// skip the rows before them.
func (s *Service) ListUsers(ctx context.Context, q ListQuery) (UserPage, error) {
	prefix := store.Key(q.Q)
	sq := store.UserQuery{Prefix: prefix, Offset: q.Page * q.Size, Limit: q.Size + 1}
	page := q.Page
	if q.Cursor != "" {
		after, p, ok := s.readCursor(q.Cursor, prefix)
		if !ok {
			return UserPage{}, ErrBadCursor
		}
		sq.AfterID, sq.Offset, page = after, 0, p
	}
	total, err := store.CountUsers(ctx, s.db, prefix, MaxCount+1)
	if err != nil {
		return UserPage{}, dbError(err)
	}
	out := UserPage{TotalItems: min(total, MaxCount), TotalCapped: total > MaxCount, CurrentPage: page, Users: []UserInfo{}}
	out.TotalPages = (out.TotalItems + int64(q.Size) - 1) / int64(q.Size)
	switch {
	case sq.Offset >= MaxCount && total > MaxCount:
		// The count stopped at the cap: the users go on past it, and
		// skipping to them would read them all.
		return UserPage{}, ErrPageTooDeep
	case int64(sq.Offset) >= total:
		return out, nil // past the end: nothing to read
	}
	users, err := store.ListUsers(ctx, s.db, sq)
	if err != nil {
		return UserPage{}, dbError(err)
	}
	if len(users) > q.Size {
		users = users[:q.Size]
		out.Next = s.cursor(users[q.Size-1].ID, page+1, prefix)
	}
	out.Users = make([]UserInfo, len(users))
	for i, u := range users {
		out.Users[i] = userInfo(u)
	}
	return out, nil
}

// A cursor is the last id of a page and the number of the next page,
// signed together with the search they belong to, so that a client can
// only hand back what it was given: base64url(version, uvarint id,
// uvarint page, 12 bytes of HMAC-SHA256).
const (
	cursorVersion = 1
	cursorMACSize = 12
)

func (s *Service) cursor(afterID int64, page int, prefix string) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(afterID))
	b = binary.AppendUvarint(b, uint64(page))
	b = append(b, s.cursorMAC(b, prefix)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Service) readCursor(c, prefix string) (afterID int64, page int, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 1+2+cursorMACSize || b[0] != cursorVersion {
		return 0, 0, false
	}
	body, mac := b[:len(b)-cursorMACSize], b[len(b)-cursorMACSize:]
	if !hmac.Equal(mac, s.cursorMAC(body, prefix)) {
		return 0, 0, false
	}
	id, n := binary.Uvarint(body[1:])
	if n <= 0 || id < 1 || id > store.MaxUserID {
		return 0, 0, false
	}
	p, m := binary.Uvarint(body[1+n:])
	if m <= 0 || 1+n+m != len(body) || p > 1<<31 {
		return 0, 0, false
	}
	return int64(id), int(p), true
}

func (s *Service) cursorMAC(body []byte, prefix string) []byte {
	m := hmac.New(sha256.New, s.cursorKey)
	m.Write(body)
	m.Write([]byte{0})
	m.Write([]byte(prefix))
	return m.Sum(nil)[:cursorMACSize]
}

// cursorKeyFrom derives the key that signs list cursors from the token
// signing secret (or key), so that every instance sharing that accepts
// the others' cursors without another setting, and the cursor key says
// nothing about the token key.
func cursorKeyFrom(opts Options) []byte {
	src := opts.Secret
	if opts.SigningKey != nil {
		src = opts.SigningKey.Seed()
	}
	m := hmac.New(sha256.New, src)
	m.Write([]byte("jwtauth user list cursor"))
	return m.Sum(nil)
}
