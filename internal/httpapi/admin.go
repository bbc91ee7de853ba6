package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/auth"
)

// userResponse is a user in the admin API.
type userResponse struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"createdAt"`
	// EmailVerified: the user proved they read Email.
	EmailVerified bool `json:"emailVerified"`
}

func toUserResponse(u auth.UserInfo) userResponse {
	return userResponse{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles, CreatedAt: u.CreatedAt.UTC(),
		EmailVerified: u.EmailVerified}
}

// usersPage is the shape of the original author's pagination tutorial,
// plus totalCapped and next.
type usersPage struct {
	TotalItems  int64          `json:"totalItems"`
	Users       []userResponse `json:"users"`
	TotalPages  int64          `json:"totalPages"`
	CurrentPage int            `json:"currentPage"`
	// TotalCapped: there are more than totalItems (auth.MaxCount).
	TotalCapped bool `json:"totalCapped"`
	// Next is the cursor of the following page, null on the last one.
	Next *string `json:"next"`
}

// listUsers serves GET /api/admin/users?page=0&size=20&q=... and
// ?cursor=<next>&size=20&q=...: page counts from 0; size is 1 to 100
// (larger sizes are served as 100); a page past the end is empty; a cursor
// is the next of an earlier answer with the same q, and replaces page.
func (a *api) listUsers(c *gin.Context) error {
	page, err := queryInt(c, "page", 0, 0, 1_000_000)
	if err != nil {
		return err
	}
	size, err := queryInt(c, "size", auth.DefaultPageSize, 1, -1)
	if err != nil {
		return err
	}
	size = min(size, auth.MaxPageSize)
	q := c.Query("q")
	if len(q) > 254 {
		return badRequest("Failed! q must be at most 254 characters.")
	}
	// No username or email holds these, and PostgreSQL refuses them in text.
	if !utf8.ValidString(q) || strings.IndexFunc(q, unicode.IsControl) >= 0 {
		return badRequest("Failed! q must be UTF-8 text without control characters.")
	}
	cursor, withCursor := c.GetQuery("cursor")
	if _, withPage := c.GetQuery("page"); withCursor && withPage {
		return badRequest("Failed! Send page or cursor, not both.")
	}
	if withCursor && cursor == "" {
		return auth.ErrBadCursor
	}
	p, err := a.svc.ListUsers(reqCtx(c), auth.ListQuery{Q: q, Page: page, Size: size, Cursor: cursor})
	if err != nil {
		return err
	}
	out := usersPage{TotalItems: p.TotalItems, TotalPages: p.TotalPages, CurrentPage: p.CurrentPage,
		TotalCapped: p.TotalCapped, Users: make([]userResponse, len(p.Users))}
	if p.Next != "" {
		out.Next = &p.Next
	}
	for i, u := range p.Users {
		out.Users[i] = toUserResponse(u)
	}
	c.JSON(http.StatusOK, out)
	return nil
}

// queryInt reads a whole-number query parameter in [lo, hi] (hi < 0: no
// upper bound).
func queryInt(c *gin.Context, name string, def, lo, hi int) (int, error) {
	v, ok := c.GetQuery(name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || (hi >= 0 && n > hi) {
		bound := strconv.Itoa(lo) + " or more"
		if hi >= 0 {
			bound = "from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
		}
		return 0, badRequest("Failed! " + name + " must be a whole number " + bound + ".")
	}
	return n, nil
}

// userID reads the :id of an admin route.
func userID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("Failed! The user id must be a positive whole number.")
	}
	return id, nil
}

func (a *api) getUser(c *gin.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	u, err := a.svc.User(reqCtx(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toUserResponse(u))
	return nil
}

// rolesForm is the body of PUT /api/admin/users/:id/roles.
type rolesForm struct {
	Roles *[]string `json:"roles"`
}

func (f *rolesForm) fromForm(values map[string][]string) error {
	roles := append(append([]string{}, values["roles"]...), values["roles[]"]...)
	if _, ok := values["roles"]; ok || len(roles) > 0 {
		f.Roles = &roles
	}
	return nil
}

func (a *api) setRoles(c *gin.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	var f rolesForm
	if err := bind(c, &f); err != nil {
		return err
	}
	if f.Roles == nil {
		return badRequest(`Failed! Send the roles to give, e.g. {"roles":["user","moderator"]}.`)
	}
	u, err := a.svc.SetRoles(reqCtx(c), principal(c), id, *f.Roles)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toUserResponse(u))
	return nil
}

func (a *api) deleteUser(c *gin.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	if err := a.svc.DeleteUser(reqCtx(c), principal(c), id); err != nil {
		return err
	}
	c.JSON(http.StatusOK, message{"User deleted."})
	return nil
}

func (a *api) signOutUser(c *gin.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	n, err := a.svc.SignOutUser(reqCtx(c), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"message": "User signed out of every session.", "sessions": n})
	return nil
}
