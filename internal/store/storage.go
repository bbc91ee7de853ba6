package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// StorageFullFor is how long after a write refused for want of room Ping
// keeps reporting ErrStorageFull, unless a row is stored meanwhile. It
// turns readiness off at the first refused write and back on without a
// probe write of its own: a freed disk shows within this time, or at once
// when a write succeeds.
const StorageFullFor = 10 * time.Second

const storageWatchName = "jwtauth:storage"

// storageWatch remembers, per database handle, when a write last failed
// for want of room. It is a GORM plugin so that it sees every statement,
// whichever package runs it, and lives and dies with the handle.
type storageWatch struct {
	now    func() time.Time
	fullAt atomic.Int64 // UnixNano of the last refused write; 0: none since a row was stored
}

func (w *storageWatch) Name() string { return storageWatchName }

// Initialize hooks the watch after every kind of statement GORM runs.
func (w *storageWatch) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	errs := []error{
		cb.Create().After("gorm:create").Register(storageWatchName, w.observeCreate),
		cb.Update().After("gorm:update").Register(storageWatchName, w.observe),
		cb.Delete().After("gorm:delete").Register(storageWatchName, w.observe),
		cb.Query().After("gorm:query").Register(storageWatchName, w.observe),
		cb.Row().After("gorm:row").Register(storageWatchName, w.observe),
		cb.Raw().After("gorm:raw").Register(storageWatchName, w.observe),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register storage watch: %w", err)
	}
	return nil
}

// observe notes a statement refused for want of room.
func (w *storageWatch) observe(db *gorm.DB) {
	if db.Error != nil {
		w.note(db.Error)
	}
}

// observeCreate also notes a row created, which proves there is room
// again. (When the COMMIT of that row's transaction is then refused for
// room, Transaction notes it.)
func (w *storageWatch) observeCreate(db *gorm.DB) {
	if db.Error == nil && db.RowsAffected > 0 {
		w.fullAt.Store(0)
		return
	}
	w.observe(db)
}

func (w *storageWatch) note(err error) {
	if storageFull(err) {
		w.fullAt.Store(w.now().UnixNano())
	}
}

// full reports whether a write was refused for want of room within
// StorageFullFor.
func (w *storageWatch) full() (time.Time, bool) {
	at := w.fullAt.Load()
	if at == 0 {
		return time.Time{}, false
	}
	t := time.Unix(0, at)
	return t, w.now().Sub(t) < StorageFullFor
}

func watchOf(db *gorm.DB) *storageWatch {
	w, _ := db.Config.Plugins[storageWatchName].(*storageWatch)
	return w
}

// checkStorage returns ErrStorageFull if db refused a write for want of
// room within StorageFullFor and has stored no row since.
func checkStorage(db *gorm.DB) error {
	w := watchOf(db)
	if w == nil {
		return nil
	}
	if at, full := w.full(); full {
		return fmt.Errorf("%w: %w: a write was refused for want of room at %s",
			ErrStorageFull, ErrUnavailable, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// Transaction runs fn in a transaction on db, as gorm's Transaction does,
// and translates what it returns, including a failed BEGIN or COMMIT: a
// connection lost there, or a COMMIT refused for want of room, is
// ErrUnavailable like any other statement's.
func Transaction(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Transaction(fn)
	if w := watchOf(db); w != nil && err != nil {
		w.note(err)
	}
	return translate(err)
}
