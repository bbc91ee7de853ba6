package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/auth"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

type adminUser struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"createdAt"`
}

type adminPage struct {
	TotalItems  int64       `json:"totalItems"`
	Users       []adminUser `json:"users"`
	TotalPages  int64       `json:"totalPages"`
	CurrentPage int         `json:"currentPage"`
	TotalCapped bool        `json:"totalCapped"`
	Next        *string     `json:"next"`
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	return v
}

func (s *testServer) as(t testing.TB, token, method, path, body string) response {
	t.Helper()
	req := request{method: method, path: path, header: map[string]string{"x-access-token": token}}
	if body != "" {
		req.contentType, req.body = "application/json", body
	}
	return s.do(t, req)
}

func TestAdminAccess(t *testing.T) {
	s := newServer(t, "sqlite")
	s.createUser(t, "plain", "password-1", roleUser)
	s.createUser(t, "mod", "password-1", roleUser, roleModerator)
	for _, token := range []string{s.signIn(t, "plain", "password-1").AccessToken, s.signIn(t, "mod", "password-1").AccessToken} {
		for _, rt := range [][2]string{{"GET", "/api/admin/users"}, {"GET", "/api/admin/users/1"},
			{"PUT", "/api/admin/users/1/roles"}, {"DELETE", "/api/admin/users/1"}, {"POST", "/api/admin/users/1/signout"}} {
			wantJSON(t, s.as(t, token, rt[0], rt[1], `{"roles":["admin"]}`), 403, "Require Admin Role!")
		}
	}
	wantJSON(t, s.get(t, "/api/admin/users", ""), 403, "No token provided!")
}

func TestAdminListUsers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		admin := s.signIn(t, "boss", "password-1").AccessToken
		for i := range 24 {
			s.createUser(t, fmt.Sprintf("member%02d", i), "password-1", roleUser)
		}
		s.createUser(t, "100%_real", "password-1", roleUser)
		s.createUser(t, "100ab_decoy", "password-1", roleUser)

		first := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users", ""))
		if first.TotalItems != 27 || len(first.Users) != 20 || first.TotalPages != 2 || first.CurrentPage != 0 {
			t.Errorf("first page: %d items, %d users, %d pages, page %d", first.TotalItems, len(first.Users), first.TotalPages, first.CurrentPage)
		}
		u := first.Users[0]
		if u.Username != "boss" || u.Email != "boss@example.com" || fmt.Sprint(u.Roles) != "[user admin]" || u.CreatedAt.IsZero() {
			t.Errorf("first user = %+v", u)
		}
		second := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?page=1&size=20", ""))
		if len(second.Users) != 7 || second.CurrentPage != 1 || second.Users[0].ID == first.Users[19].ID {
			t.Errorf("second page: %d users, page %d", len(second.Users), second.CurrentPage)
		}
		past := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?page=9", ""))
		if len(past.Users) != 0 || past.TotalItems != 27 || past.CurrentPage != 9 || !strings.Contains(string(s.as(t, admin, "GET", "/api/admin/users?page=9", "").body), `"users":[]`) {
			t.Errorf("page past the end: %+v", past)
		}
		huge := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=100000", ""))
		if len(huge.Users) != 27 || huge.TotalPages != 1 {
			t.Errorf("huge size (served as 100): %d users, %d pages", len(huge.Users), huge.TotalPages)
		}
		small := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=7&page=3", ""))
		if len(small.Users) != 6 || small.TotalPages != 4 {
			t.Errorf("size 7 page 3: %d users, %d pages", len(small.Users), small.TotalPages)
		}
		found := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q=MEMBER1", ""))
		if found.TotalItems != 10 {
			t.Errorf("q=MEMBER1 matched %d, want member10..member19", found.TotalItems)
		}
		byEmail := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q=boss@EXAMPLE", ""))
		if byEmail.TotalItems != 1 || byEmail.Users[0].Username != "boss" {
			t.Errorf("q by email: %+v", byEmail)
		}
		literal := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q=100%25_", ""))
		if literal.TotalItems != 1 || literal.Users[0].Username != "100%_real" {
			t.Errorf(`q="100%%_" (wildcards taken literally) matched %d`, literal.TotalItems)
		}
		// A search matches the start of a username or email, not the middle.
		inside := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q=ember", ""))
		if inside.TotalItems != 0 || len(inside.Users) != 0 || inside.Next != nil {
			t.Errorf("q=ember matched %d, want none (prefixes only)", inside.TotalItems)
		}
		if first.TotalCapped || first.Next == nil || second.Next != nil || past.Next != nil {
			t.Errorf("first page capped %v next %v; second page next %v; past the end next %v",
				first.TotalCapped, first.Next, second.Next, past.Next)
		}

		for _, q := range []struct{ query, msg string }{
			{"size=0", "Failed! size must be a whole number 1 or more."},
			{"size=-5", "Failed! size must be a whole number 1 or more."},
			{"size=ten", "Failed! size must be a whole number 1 or more."},
			{"page=-1", "Failed! page must be a whole number from 0 to 1000000."},
			{"page=1.5", "Failed! page must be a whole number from 0 to 1000000."},
			{"page=99999999999999999999", "Failed! page must be a whole number from 0 to 1000000."},
			{"q=" + strings.Repeat("q", 255), "Failed! q must be at most 254 characters."},
			{"q=a%00b", "Failed! q must be UTF-8 text without control characters."},
			{"q=%FF", "Failed! q must be UTF-8 text without control characters."},
		} {
			wantJSON(t, s.as(t, admin, "GET", "/api/admin/users?"+q.query, ""), 400, q.msg)
		}
	})
}

func TestAdminManagesUsers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		var logs bytes.Buffer
		db := storetest.Open(t, driver)
		s := serverOn(t, db, func(o *auth.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
		other := serverOn(t, db) // a second instance on the same database
		bossID := s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		plainID := s.createUser(t, "plain", "password-1", roleUser)
		admin := s.signIn(t, "boss", "password-1").AccessToken
		plain := s.signIn(t, "plain", "password-1")
		path := fmt.Sprintf("/api/admin/users/%d", plainID)

		got := decode[adminUser](t, s.as(t, admin, "GET", path, ""))
		if got.Username != "plain" || fmt.Sprint(got.Roles) != "[user]" {
			t.Errorf("GET user = %+v", got)
		}
		wantJSON(t, s.as(t, admin, "GET", "/api/admin/users/99999", ""), 404, "User Not found.")
		// Past the 32-bit ids of the original's INTEGER column, and past int64.
		for _, id := range []string{"2147483648", "9223372036854775807"} {
			wantJSON(t, s.as(t, admin, "GET", "/api/admin/users/"+id, ""), 404, "User Not found.")
			wantJSON(t, s.as(t, admin, "DELETE", "/api/admin/users/"+id, ""), 404, "User Not found.")
			wantJSON(t, s.as(t, admin, "POST", "/api/admin/users/"+id+"/signout", ""), 404, "User Not found.")
			wantJSON(t, s.as(t, admin, "PUT", "/api/admin/users/"+id+"/roles", `{"roles":["user"]}`), 404, "User Not found.")
		}
		wantJSON(t, s.as(t, admin, "GET", "/api/admin/users/9223372036854775808", ""), 400, "Failed! The user id must be a positive whole number.")
		wantJSON(t, s.as(t, admin, "GET", "/api/admin/users/abc", ""), 400, "Failed! The user id must be a positive whole number.")
		wantJSON(t, s.as(t, admin, "GET", "/api/admin/users/0", ""), 400, "Failed! The user id must be a positive whole number.")

		// Grant moderator: in force at once here, within the TTL elsewhere.
		wantJSON(t, other.get(t, "/api/test/mod", plain.AccessToken), 403, "Require Moderator Role!") // cached there
		set := decode[adminUser](t, s.as(t, admin, "PUT", path+"/roles", `{"roles":["moderator","user"]}`))
		if fmt.Sprint(set.Roles) != "[user moderator]" {
			t.Errorf("roles after PUT = %v", set.Roles)
		}
		wantText(t, s.get(t, "/api/test/mod", plain.AccessToken), 200, "Moderator Content.")
		other.clock.Advance(6 * time.Second)
		wantText(t, other.get(t, "/api/test/mod", plain.AccessToken), 200, "Moderator Content.")
		// And take it away again on the running servers.
		decode[adminUser](t, s.as(t, admin, "PUT", path+"/roles", `{"roles":["user"]}`))
		wantJSON(t, s.get(t, "/api/test/mod", plain.AccessToken), 403, "Require Moderator Role!")
		other.clock.Advance(6 * time.Second)
		wantJSON(t, other.get(t, "/api/test/mod", plain.AccessToken), 403, "Require Moderator Role!")

		wantJSON(t, s.as(t, admin, "PUT", path+"/roles", `{"roles":["user","superuser"]}`), 400, "Failed! Role does not exist = superuser")
		wantJSON(t, s.as(t, admin, "PUT", path+"/roles", `{}`), 400, `Failed! Send the roles to give, e.g. {"roles":["user","moderator"]}.`)
		wantJSON(t, s.as(t, admin, "PUT", path+"/roles", `{"roles":"admin"}`), 400, "Failed! Roles must be a list of role names.")
		wantJSON(t, s.as(t, admin, "PUT", "/api/admin/users/99999/roles", `{"roles":["user"]}`), 404, "User Not found.")

		// Sign the user out of every session.
		r := s.as(t, admin, "POST", path+"/signout", "")
		if r.status != 200 || !strings.Contains(string(r.body), `"sessions":1`) {
			t.Errorf("signout: %d %s", r.status, r.body)
		}
		wantJSON(t, s.refresh(t, plain.RefreshToken), 403, msgRevoked)
		wantJSON(t, s.get(t, "/api/test/user", plain.AccessToken), 401, "Unauthorized!")

		// Delete.
		again := s.signIn(t, "plain", "password-1")
		wantJSON(t, s.as(t, admin, "DELETE", path, ""), 200, "User deleted.")
		wantJSON(t, s.as(t, admin, "GET", path, ""), 404, "User Not found.")
		wantJSON(t, s.as(t, admin, "DELETE", path, ""), 404, "User Not found.")
		wantJSON(t, s.get(t, "/api/test/user", again.AccessToken), 401, "Unauthorized!")
		wantJSON(t, s.refresh(t, again.RefreshToken), 403, msgMissing)

		// Every change was logged with the acting admin.
		for _, ev := range []string{auth.EventRolesChanged, auth.EventUserSignedOut, auth.EventUserDeleted} {
			if !strings.Contains(logs.String(), fmt.Sprintf(`"actor_id":%d,"user_id":%d`, bossID, plainID)) ||
				!strings.Contains(logs.String(), `"event":"`+ev+`"`) {
				t.Errorf("no %s audit event with actor and user:\n%s", ev, logs.String())
			}
		}
	})
}

// The last admin cannot demote or delete themselves; with two, either may go.
func TestLastAdminGuard(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		firstID := s.createUser(t, "first", "password-1", roleUser, roleAdmin)
		first := s.signIn(t, "first", "password-1").AccessToken
		self := fmt.Sprintf("/api/admin/users/%d", firstID)
		const last = "Failed! That would leave no admin: make another user admin first."

		wantJSON(t, s.as(t, first, "PUT", self+"/roles", `{"roles":["user"]}`), 409, last)
		wantJSON(t, s.as(t, first, "PUT", self+"/roles", `{"roles":[]}`), 409, last)
		wantJSON(t, s.as(t, first, "DELETE", self, ""), 409, last)
		decode[adminUser](t, s.as(t, first, "PUT", self+"/roles", `{"roles":["admin","moderator"]}`)) // keeping admin is fine

		secondID := s.createUser(t, "second", "password-1", roleUser)
		second := fmt.Sprintf("/api/admin/users/%d", secondID)
		decode[adminUser](t, s.as(t, first, "PUT", second+"/roles", `{"roles":["user","admin"]}`))
		got := decode[adminUser](t, s.as(t, first, "PUT", self+"/roles", `{"roles":["user"]}`))
		if fmt.Sprint(got.Roles) != "[user]" {
			t.Errorf("roles = %v", got.Roles)
		}
		// first is no admin any more; second is the last one.
		wantJSON(t, s.as(t, first, "GET", "/api/admin/users", ""), 403, "Require Admin Role!")
		secondToken := s.signIn(t, "second", "password-1").AccessToken
		wantJSON(t, s.as(t, secondToken, "DELETE", second, ""), 409, last)
		wantJSON(t, s.as(t, secondToken, "DELETE", self, ""), 200, "User deleted.")
	})
}

// Following next from the first page visits every user once, in id order,
// on every engine, with and without a search; a cursor works only as it
// was handed out.
func TestAdminListUsersCursor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		admin := s.signIn(t, "boss", "password-1").AccessToken
		for i := range 30 {
			name := fmt.Sprintf("walker%02d", i)
			if i%3 == 0 {
				name = fmt.Sprintf("Jögger%02d", i) // folded: jögger, matched by JÖG
			}
			s.createUser(t, name, "password-1", roleUser)
		}
		walk := func(query string) (ids []int64, pages int) {
			t.Helper()
			path := "/api/admin/users?size=4&" + query
			for pages = 0; pages < 50; pages++ {
				p := decode[adminPage](t, s.as(t, admin, "GET", path, ""))
				if p.CurrentPage != pages {
					t.Errorf("%s: currentPage %d, want %d", path, p.CurrentPage, pages)
				}
				for _, u := range p.Users {
					ids = append(ids, u.ID)
				}
				if p.Next == nil {
					return ids, pages + 1
				}
				path = "/api/admin/users?size=4&" + query + "&cursor=" + *p.Next
			}
			t.Fatalf("%s: no end after 50 pages", query)
			return nil, 0
		}
		all := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=100", ""))
		ids, pages := walk("")
		if len(ids) != 31 || pages != 8 || fmt.Sprint(ids) != fmt.Sprint(userIDs(all.Users)) {
			t.Errorf("walked %d users in %d pages: %v, want the 31 of one big page %v", len(ids), pages, ids, userIDs(all.Users))
		}
		found, pages := walk("q=J%C3%96G")
		if len(found) != 10 || pages != 3 {
			t.Errorf("q=JÖG: walked %d users in %d pages, want 10 in 3", len(found), pages)
		}
		for i := 1; i < len(found); i++ {
			if found[i] <= found[i-1] {
				t.Errorf("q=JÖG: ids out of order: %v", found)
			}
		}

		first := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=4", ""))
		next := *first.Next
		const bad = "Failed! The cursor is not valid for this search: start again from the first page."
		flipped := []byte(next)
		flipped[2] ^= 1
		for _, c := range []string{string(flipped), next[:len(next)-1], next + "A", "", "AAAAAAAAAAAAAAAAAAAAAAA", "%25%00", "!!"} {
			wantJSON(t, s.as(t, admin, "GET", "/api/admin/users?size=4&cursor="+c, ""), 400, bad)
		}
		// The cursor of one search is not one of another.
		wantJSON(t, s.as(t, admin, "GET", "/api/admin/users?q=w&cursor="+next, ""), 400, bad)
		wantJSON(t, s.as(t, admin, "GET", "/api/admin/users?page=1&cursor="+next, ""), 400, "Failed! Send page or cursor, not both.")
		// Another instance sharing the secret takes it.
		other := serverOn(t, s.db)
		p := decode[adminPage](t, other.as(t, admin, "GET", "/api/admin/users?size=4&cursor="+next, ""))
		if len(p.Users) != 4 || p.Users[0].ID != ids[4] || p.CurrentPage != 1 {
			t.Errorf("cursor on another instance: %+v", p)
		}
	})
}

func userIDs(users []adminUser) []int64 {
	ids := make([]int64, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids
}

// Past auth.MaxCount users, the count stops there and says so.
func TestAdminListUsersCountCap(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		admin := s.signIn(t, "boss", "password-1").AccessToken
		now := time.Now().UTC()
		users := make([]store.User, auth.MaxCount+5)
		for i := range users {
			name := fmt.Sprintf("bulk%06d", i)
			users[i] = store.User{Username: name, Email: name + "@example.com", Password: "x",
				UsernameKey: name, EmailKey: name + "@example.com", CreatedAt: now, UpdatedAt: now}
		}
		if err := s.db.CreateInBatches(users, 500).Error; err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"", "q=bulk"} {
			p := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=100&"+q, ""))
			if p.TotalItems != auth.MaxCount || !p.TotalCapped || p.TotalPages != auth.MaxCount/100 || len(p.Users) != 100 || p.Next == nil {
				t.Errorf("%q: %d items (capped %v), %d pages, %d users", q, p.TotalItems, p.TotalCapped, p.TotalPages, len(p.Users))
			}
		}
		p := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q=bulk00001", ""))
		if p.TotalItems != 10 || p.TotalCapped {
			t.Errorf("q=bulk00001: %d items (capped %v), want 10", p.TotalItems, p.TotalCapped)
		}
		// Numbered pages reach the first MaxCount users; past them, next does.
		last := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=100&page=99", ""))
		if len(last.Users) != 100 || last.CurrentPage != 99 || last.Next == nil {
			t.Fatalf("page 99: %d users, page %d", len(last.Users), last.CurrentPage)
		}
		// Deeper numbered pages are refused alike, not answered empty as if
		// the users had run out (the count stops at MaxCount+1).
		for _, q := range []string{"size=100&page=100", "size=100&page=101", "size=20&page=600", "q=bulk&size=100&page=200"} {
			wantJSON(t, s.as(t, admin, "GET", "/api/admin/users?"+q, ""), 400,
				"Failed! Numbered pages reach the first 10000 users: follow next from an earlier page, or narrow q.")
		}
		beyond := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?size=100&cursor="+*last.Next, ""))
		if len(beyond.Users) != 6 || beyond.CurrentPage != 100 || beyond.Next != nil ||
			beyond.Users[0].ID <= last.Users[99].ID {
			t.Errorf("the page after page 99, by cursor: %d users, page %d", len(beyond.Users), beyond.CurrentPage)
		}
		// A search with fewer matches pages past its end as before.
		empty := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q=bulk00001&page=5000", ""))
		if len(empty.Users) != 0 || empty.TotalItems != 10 {
			t.Errorf("q=bulk00001 page 5000: %+v", empty)
		}
	})
}

// A search is a prefix of the folded name or address, byte for byte on
// every engine: a trailing space counts (MySQL's PAD SPACE collations
// would ignore it), and Unicode folds as the unique keys do.
func TestAdminSearchPrefix(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		s.createUser(t, "boss", "password-1", roleUser, roleAdmin)
		admin := s.signIn(t, "boss", "password-1").AccessToken
		for _, name := range []string{"bob", "bob smith", "bobby", "Straße", "strasbourg"} {
			s.createUser(t, name, "password-1", roleUser)
		}
		for _, c := range []struct{ q, want string }{
			{"bob", "[bob bob smith bobby]"},
			{"bob%20", "[bob smith]"},
			{"BOB%20S", "[bob smith]"},
			{"STRASS", "[Straße]"},
			{"stras", "[Straße strasbourg]"},
			{"bob@", "[bob]"},
			{"smith", "[]"},
		} {
			p := decode[adminPage](t, s.as(t, admin, "GET", "/api/admin/users?q="+c.q, ""))
			names := []string{}
			for _, u := range p.Users {
				names = append(names, u.Username)
			}
			if fmt.Sprint(names) != c.want || p.TotalItems != int64(len(names)) {
				t.Errorf("q=%s: %v (totalItems %d), want %s", c.q, names, p.TotalItems, c.want)
			}
		}
	})
}
