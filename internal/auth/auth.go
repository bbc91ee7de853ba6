// Package auth holds jwtauth's rules: who may sign up with which roles, how
// passwords are checked and stored, how access tokens are issued and
// verified, and what a token's bearer may do. It knows nothing of HTTP.
package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"jwtauth/internal/bcrypt"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// The roles jwtauth seeds.
const (
	RoleUser      = "user"
	RoleModerator = "moderator"
	RoleAdmin     = "admin"
)

// Limits on what a client may send.
const (
	UsernameMinLength = 3
	UsernameMaxLength = 64
	EmailMaxLength    = 254 // RFC 5321's limit on a forward path, less the brackets
	PasswordMaxBytes  = 72  // bcrypt ignores every byte after the 72nd
)

// Options configures a Service.
type Options struct {
	// Secret signs access tokens (HS256), at least 32 bytes. With a
	// SigningKey it only verifies, and may be empty.
	Secret []byte
	// PreviousSecrets still verify tokens signed before a rotation.
	PreviousSecrets [][]byte
	// SigningKey, when set, signs access tokens with EdDSA instead.
	SigningKey ed25519.PrivateKey
	// AccessTokenTTL is the lifetime of an access token.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of one refresh token.
	RefreshTokenTTL time.Duration
	// SessionMaxAge is the lifetime of a session however often it is refreshed.
	SessionMaxAge time.Duration
	// RefreshReuseGrace lets a refresh token be exchanged again this long
	// after its first exchange (two tabs at once) before it counts as a replay.
	RefreshReuseGrace time.Duration
	// KeepRefreshToken turns rotation off: a refresh hands back the token it
	// was given, as the original's refresh-token variant does, for clients
	// that never store the new one. Replays then cannot be detected.
	KeepRefreshToken bool
	// BcryptCost is the cost of new hashes; cheaper ones are upgraded on signin.
	BcryptCost int
	// PasswordMinLength is the fewest characters a new password may have.
	PasswordMinLength int
	// SignupAllowRoles are the roles signup may grant on request.
	SignupAllowRoles []string
	// AuthzCacheTTL bounds how stale a user's cached roles may be; 0 disables the cache.
	AuthzCacheTTL time.Duration
	// HashWorkers is how many bcrypt runs may go at once (0: GOMAXPROCS).
	HashWorkers int
	// HashQueue is how many more may wait for one (0: 64).
	HashQueue int
	// HashMaxWait is how long one may wait (0: 3s).
	HashMaxWait time.Duration
	// SignInAccountAddressLimit limits signin attempts on one account from
	// one client address; a successful signin there resets it.
	// SignInAccountLimit, looser, limits them on one account from all
	// addresses; past it each address gets one attempt per the first
	// rule's period. The zero Rule does not limit.
	SignInAccountAddressLimit, SignInAccountLimit ratelimit.Rule
	// AllowCommonPasswords turns off the check against the list of common
	// passwords.
	AllowCommonPasswords bool
	// CountEvent, when set, is told of every event LogEvent writes (for
	// metrics): its name and its reason or rule.
	CountEvent func(event, detail string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what the service notices but does not fail on.
	Logger *slog.Logger
}

// Service signs users up and in, and checks their tokens and roles.
type Service struct {
	db     *gorm.DB
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	tokens tokenKeys
	authz  *principals
	hashes *hashPool
	// signInLast is the one attempt per period an address gets on an
	// account past the account's ceiling.
	signInLast ratelimit.Rule
	// dummyHash is compared against when a signin names no user, so that the
	// answer takes as long as a wrong password does.
	dummyHash func() []byte
}

// New returns a Service on db.
func New(db *gorm.DB, opts Options) (*Service, error) {
	if opts.SigningKey == nil && len(opts.Secret) < 32 {
		return nil, errors.New("auth: secret must be at least 32 bytes")
	}
	if opts.RefreshTokenTTL <= 0 || opts.SessionMaxAge < opts.RefreshTokenTTL {
		return nil, errors.New("auth: refresh token TTL must be positive and within the session max age")
	}
	if opts.BcryptCost < bcrypt.MinCost || opts.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range", opts.BcryptCost)
	}
	if opts.AccessTokenTTL <= 0 {
		return nil, errors.New("auth: access token TTL must be positive")
	}
	if opts.PasswordMinLength <= 0 {
		opts.PasswordMinLength = 8
	}
	s := &Service{db: db, opts: opts, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var signing tokenKey
	var verifyOnly []tokenKey
	switch {
	case opts.SigningKey == nil:
		signing = hmacKey(opts.Secret, true)
	case len(opts.Secret) > 0:
		verifyOnly = append(verifyOnly, hmacKey(opts.Secret, false))
		fallthrough
	default:
		signing = ed25519Key(opts.SigningKey)
	}
	for _, secret := range opts.PreviousSecrets {
		verifyOnly = append(verifyOnly, hmacKey(secret, false))
	}
	s.tokens = newTokenKeys(signing, verifyOnly, opts.AccessTokenTTL, s.now)
	s.authz = newPrincipals(db, s.tokens, opts.AuthzCacheTTL, s.now, opts.Now != nil)
	if opts.HashWorkers <= 0 {
		opts.HashWorkers = runtime.GOMAXPROCS(0)
	}
	if opts.HashQueue <= 0 {
		opts.HashQueue = 64
	}
	if opts.HashMaxWait <= 0 {
		opts.HashMaxWait = 3 * time.Second
	}
	s.opts = opts
	s.hashes = newHashPool(opts.HashWorkers, opts.HashQueue, opts.HashMaxWait)
	s.signInLast = opts.SignInAccountAddressLimit
	if opts.SignInAccountAddressLimit.Rate().Unlimited() {
		s.signInLast = opts.SignInAccountLimit
	}
	s.signInLast = s.signInLast.Single(s.signInLast.Name() + "-last")
	cost := opts.BcryptCost
	s.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("jwtauth timing equalizer"), cost)
		return h
	})
	return s, nil
}

// HashPoolStats reports how many password hashes run and how many wait.
func (s *Service) HashPoolStats() (running, waiting int) { return s.hashes.stats() }

// WarmUp computes what the first requests would otherwise wait for.
func (s *Service) WarmUp() { s.dummyHash() }

// SignUpInput is what a new user sends.
type SignUpInput struct {
	Username string
	Email    string
	Password string
	// Roles asked for; empty means the user role.
	Roles []string
}

// SignUp validates in and creates the account with its roles. The checks run
// in the original's order (username, email, roles), cheapest first, so that
// a rejected signup costs no bcrypt hash.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) error {
	if err := s.validateSignUp(in); err != nil {
		return err
	}
	userTaken, emailTaken, err := store.Taken(ctx, s.db, in.Username, in.Email)
	switch {
	case err != nil:
		return dbError(err)
	case userTaken:
		return ErrUsernameTaken
	case emailTaken:
		return ErrEmailTaken
	}
	roleIDs, err := s.signupRoles(ctx, in.Roles)
	if err != nil {
		return err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return err
	}
	u := store.User{Username: in.Username, Email: in.Email, Password: hash}
	err = store.CreateUser(ctx, s.db, &u, roleIDs)
	if errors.Is(err, store.ErrConflict) {
		// Another signup won the race between Taken and the insert; the
		// unique index decided, now say which name it was.
		if userTaken, _, terr := store.Taken(ctx, s.db, in.Username, in.Email); terr == nil && !userTaken {
			return ErrEmailTaken
		}
		return ErrUsernameTaken
	}
	if err != nil {
		return dbError(err)
	}
	s.event(ctx, slog.LevelInfo, EventSignUp, slog.Int64("user_id", u.ID))
	return nil
}

// hash runs bcrypt in the pool.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var hash []byte
	var err error
	if perr := s.hashes.do(ctx, func() {
		hash, err = bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
	}); perr != nil {
		s.event(ctx, slog.LevelWarn, EventBusy)
		return "", perr
	}
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(hash), nil
}

// compare runs a bcrypt comparison in the pool.
func (s *Service) compare(ctx context.Context, hash []byte, password string) (bool, error) {
	var err error
	if perr := s.hashes.do(ctx, func() { err = bcrypt.CompareHashAndPassword(hash, []byte(password)) }); perr != nil {
		s.event(ctx, slog.LevelWarn, EventBusy)
		return false, perr
	}
	if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, fmt.Errorf("stored password hash is unusable: %w", err)
	}
	return err == nil, nil
}

func (s *Service) validateSignUp(in SignUpInput) error {
	if err := validateUsername(in.Username); err != nil {
		return err
	}
	if err := validateEmail(in.Email); err != nil {
		return err
	}
	return s.validatePassword(in.Password)
}

func (s *Service) validatePassword(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case password == "":
		return Invalid("Failed! Password is required.")
	case n < s.opts.PasswordMinLength:
		return Invalid(fmt.Sprintf("Failed! Password must be at least %d characters.", s.opts.PasswordMinLength))
	case len(password) > PasswordMaxBytes:
		return Invalid("Failed! Password must be at most 72 bytes.")
	case !s.opts.AllowCommonPasswords && isCommonPassword(password):
		return Invalid("Failed! This password is too common; please choose another.")
	}
	return nil
}

func validateUsername(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case name == "":
		return Invalid("Failed! Username is required.")
	case !utf8.ValidString(name):
		return Invalid("Failed! Username must be valid UTF-8.")
	case n < UsernameMinLength || n > UsernameMaxLength:
		return Invalid(fmt.Sprintf("Failed! Username must be %d to %d characters.", UsernameMinLength, UsernameMaxLength))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return Invalid("Failed! Username must not contain control characters.")
	case strings.TrimSpace(name) != name:
		return Invalid("Failed! Username must not start or end with spaces.")
	case strings.IndexFunc(name, unseen) >= 0:
		return Invalid("Failed! Username must not contain invisible or formatting characters.")
	case unicode.Is(unicode.M, []rune(name)[0]):
		return Invalid("Failed! Username must not start with a combining mark.")
	case strings.Contains(name, "  "):
		return Invalid("Failed! Username must not contain two spaces in a row.")
	}
	return nil
}

// unseen reports whether r cannot be told apart, on screen, from nothing
// or from a plain space: everything but letters, marks, digits,
// punctuation, symbols and the ASCII space, i.e. format characters (zero
// width space and joiners, soft hyphen, bidi overrides, BOM), other
// spaces and separators, private-use and unassigned code points; and,
// among letters and marks, the default-ignorable ones (the Hangul
// fillers, variation selectors, the combining grapheme joiner). It is the
// part of RFC 8265's username profile that matters for telling names
// apart, less its ban on symbols (names like "Zoë 🦊" stay valid).
func unseen(r rune) bool {
	if r == ' ' {
		return false
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) ||
		unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

func validateEmail(email string) error {
	if email == "" {
		return Invalid("Failed! Email is required.")
	}
	if !utf8.ValidString(email) {
		return Invalid("Failed! Email is not a valid address.")
	}
	if len(email) > EmailMaxLength || utf8.RuneCountInString(store.Key(email)) > EmailMaxLength {
		return Invalid(fmt.Sprintf("Failed! Email must be at most %d characters.", EmailMaxLength))
	}
	// A bare address only: no display name, no comments, no spaces around.
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return Invalid("Failed! Email is not a valid address.")
	}
	return nil
}

// signupRoles resolves the names asked for to role ids, in id order: every
// name must exist (400, as the original, naming the first that does not)
// and be self-assignable (403).
func (s *Service) signupRoles(ctx context.Context, names []string) ([]int64, error) {
	if len(names) == 0 {
		names = []string{RoleUser}
	}
	roles, err := store.Roles(ctx, s.db)
	if err != nil {
		return nil, dbError(err)
	}
	for _, name := range names {
		if !slices.ContainsFunc(roles, func(r store.Role) bool { return r.Name == name }) {
			return nil, roleDoesNotExist(name)
		}
	}
	for _, name := range names {
		if name != RoleUser && !slices.Contains(s.opts.SignupAllowRoles, name) {
			return nil, roleNotSelfAssignable(name)
		}
	}
	var ids []int64
	for _, r := range roles {
		if slices.Contains(names, r.Name) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// Account is a signed-in user, as the signin response shows it.
type Account struct {
	ID       int64
	Username string
	Email    string
	Roles    []string
	Tokens
}

// SignIn checks a username (ignoring case) and password, starts a session
// and issues its first access and refresh tokens. An unknown username costs
// the same bcrypt time as a wrong password.
func (s *Service) SignIn(ctx context.Context, username, password string) (Account, error) {
	switch {
	case username == "":
		return Account{}, Invalid("Failed! Username is required.")
	case password == "":
		return Account{}, Invalid("Failed! Password is required.")
	case len(password) > PasswordMaxBytes:
		return Account{}, Invalid("Failed! Password must be at most 72 bytes.")
	}
	u, err := s.findSignInUser(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		// No account to guess at, so nothing to count per account (the
		// per-address limit still applies); answered after the same
		// bcrypt time as a wrong password.
		if _, err := s.compare(ctx, s.dummyHash(), password); errors.Is(err, ErrBusy) {
			return Account{}, err
		}
		s.event(ctx, slog.LevelInfo, EventSignInFailed, slog.String("reason", "unknown user"))
		return Account{}, ErrUserNotFound
	}
	if err != nil {
		return Account{}, dbError(err)
	}
	ok, err := s.checkSignIn(ctx, u, password)
	if err != nil {
		return Account{}, err
	}
	if !ok {
		s.event(ctx, slog.LevelInfo, EventSignInFailed, slog.String("reason", "wrong password"), slog.Int64("user_id", u.ID))
		return Account{}, ErrInvalidPassword
	}
	s.signInSucceeded(ctx, u)
	s.upgradeHash(ctx, u, password)
	roles, found, err := store.UserAccess(ctx, s.db, u.ID, 0, s.now().UTC())
	if err != nil {
		return Account{}, dbError(err)
	}
	if !found {
		return Account{}, ErrUserNotFound // deleted between the two reads
	}
	tokens, sessionID, err := s.startSession(ctx, u.ID)
	if err != nil {
		return Account{}, err
	}
	s.event(ctx, slog.LevelInfo, EventSignIn, slog.Int64("user_id", u.ID), slog.Int64("session_id", sessionID))
	return Account{ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, Tokens: tokens}, nil
}

// findSignInUser looks the account up by name. A name no account can have
// (longer than the key column, or not UTF-8) is not found without a
// query, and without folding a kilobyte of text first.
func (s *Service) findSignInUser(ctx context.Context, username string) (store.User, error) {
	if len(username) > store.KeyMaxLength*utf8.UTFMax || !utf8.ValidString(username) ||
		utf8.RuneCountInString(username) > store.KeyMaxLength {
		return store.User{}, store.ErrNotFound
	}
	u, err := store.FindUserByUsername(ctx, s.db, username)
	if errors.Is(err, store.ErrUnstorable) {
		return store.User{}, store.ErrNotFound
	}
	return u, err
}

// checkSignIn counts a signin attempt on an existing account and checks
// its password. The attempt is counted once a hashing slot is held, so
// that parallel guesses cannot slip past the limits, and a request turned
// away (busy, or over a limit) stores no count at all.
func (s *Service) checkSignIn(ctx context.Context, u store.User, password string) (bool, error) {
	release, err := s.hashes.acquire(ctx)
	if err != nil {
		s.event(ctx, slog.LevelWarn, EventBusy)
		return false, err
	}
	defer release()
	if err := s.countSignIn(ctx, u); err != nil {
		return false, err
	}
	err = bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password))
	if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "signin against an unusable hash",
			slog.Int64("user_id", u.ID), slog.String("error", err.Error()))
	}
	return err == nil, nil
}

// countSignIn applies the per-account limits. The strict one counts the
// attempts on the account from one client address (an IPv6 /64), so a
// guesser elsewhere cannot use up the owner's attempts; the looser ceiling
// counts them from everywhere, against guessing spread over many
// addresses. Past the ceiling an address still gets one attempt per
// period: the owner, typing the right password from an address that has
// not been failing on the account, gets in while the account is attacked.
func (s *Service) countSignIn(ctx context.Context, u store.User) error {
	account := limitKey(u)
	pair := account + "@" + ratelimit.AddressKey(ClientFrom(ctx).IP)
	d, err := s.opts.SignInAccountAddressLimit.Allow(ctx, pair)
	if err == nil && !d.Allowed {
		return s.signInLimited(ctx, s.opts.SignInAccountAddressLimit, d.RetryAfter)
	}
	d, err = s.opts.SignInAccountLimit.Allow(ctx, account)
	if err != nil || d.Allowed {
		return nil
	}
	last, err := s.signInLast.Allow(ctx, pair)
	if err == nil && !last.Allowed {
		return s.signInLimited(ctx, s.opts.SignInAccountLimit, min(d.RetryAfter, last.RetryAfter))
	}
	return nil
}

func (s *Service) signInLimited(ctx context.Context, rule ratelimit.Rule, retryAfter time.Duration) error {
	s.event(ctx, slog.LevelWarn, EventRateLimited, slog.String("rule", rule.Name()))
	return TooMany("sign-in attempts for this account", retryAfter)
}

// signInSucceeded clears the attempts of the account from this address:
// the password is proven there. The account's ceiling is left to refill
// by itself, or the owner's signin would hand a guesser a fresh allowance.
func (s *Service) signInSucceeded(ctx context.Context, u store.User) {
	pair := limitKey(u) + "@" + ratelimit.AddressKey(ClientFrom(ctx).IP)
	for _, rule := range []ratelimit.Rule{s.opts.SignInAccountAddressLimit, s.signInLast} {
		if err := rule.Reset(ctx, pair); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "could not reset a signin limit",
				slog.String("rule", rule.Name()), slog.String("error", err.Error()))
		}
	}
}

// limitKey names an account in the limits: by its stored username key,
// the same on every instance and, unlike its id, not reused by another
// deployment sharing the Redis (nor by a test database created afresh).
// The name is the account's own, never what the client typed.
func limitKey(u store.User) string {
	if u.UsernameKey != "" {
		return u.UsernameKey
	}
	return "#" + strconv.FormatInt(u.ID, 10)
}

// upgradeHash re-hashes a correct password whose stored hash is cheaper than
// the configured cost, such as the original's cost-8 bcryptjs hashes. A
// failure is logged, not returned: the signin itself succeeded.
func (s *Service) upgradeHash(ctx context.Context, u store.User, password string) {
	cost, err := bcrypt.Cost([]byte(u.Password))
	if err != nil || cost >= s.opts.BcryptCost {
		return
	}
	var hash []byte
	if !s.hashes.tryDo(func() { hash, err = bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost) }) {
		return // the pool is busy: upgrade at a later signin
	}
	if err == nil {
		err = store.UpdatePassword(ctx, s.db, u.ID, u.Password, string(hash))
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "could not upgrade password hash",
			slog.Int64("user_id", u.ID), slog.String("error", err.Error()))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "password hash upgraded",
		slog.Int64("user_id", u.ID), slog.Int("from_cost", cost), slog.Int("to_cost", s.opts.BcryptCost))
}

// Principal is the bearer of a valid access token, with the roles the
// database gives it now (within the authorization cache's TTL).
type Principal struct {
	UserID int64
	// SessionID is the signin the token was issued for (0 for a token
	// issued without one).
	SessionID int64
	Roles     []string
}

// HasRole reports whether p holds role, exactly (admin does not imply moderator).
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Authenticate verifies an access token and loads its user's roles. A token
// for a user that no longer exists, or of a session that was signed out or
// revoked, is ErrTokenInvalid (within the authorization cache's TTL).
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrNoToken
	}
	entry, err := s.authz.get(ctx, token)
	switch {
	case isTokenError(err):
		return Principal{}, err
	case err != nil:
		return Principal{}, dbError(err)
	case !entry.found:
		return Principal{}, ErrTokenInvalid
	}
	return Principal{UserID: entry.userID, SessionID: entry.sessionID, Roles: entry.roles}, nil
}

// Ready reports whether the database answers.
func (s *Service) Ready(ctx context.Context) error {
	return dbError(store.Ping(ctx, s.db))
}
