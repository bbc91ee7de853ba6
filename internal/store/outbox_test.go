package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

var testRetry = store.MailRetry{Base: 30 * time.Second, Max: 10 * time.Minute}

func enqueue(t *testing.T, db *gorm.DB, to string) store.OutboxMail {
	t.Helper()
	m := store.OutboxMail{Recipient: to, Subject: "Subject for " + to, TextBody: "Hello " + to}
	if err := store.EnqueueMail(context.Background(), db, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func claim(t *testing.T, db *gorm.DB, sender string, now time.Time, limit int) []store.OutboxMail {
	t.Helper()
	var got []store.OutboxMail
	err := store.Transaction(context.Background(), db, func(tx *gorm.DB) error {
		var err error
		got, err = store.ClaimMail(context.Background(), tx, sender, now, time.Minute, limit)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A message enqueued in a transaction exists only if the transaction
// commits; on the original's database, once migrated, as on a new one.
func TestEnqueueMailFollowsTheTransaction(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := legacyDB(t, driver)
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		cause := errors.New("the change failed")
		err := store.Transaction(ctx, db, func(tx *gorm.DB) error {
			m := store.OutboxMail{Recipient: "gone@example.com", Subject: "s", TextBody: "b"}
			if err := store.EnqueueMail(ctx, tx, &m); err != nil {
				return err
			}
			return cause
		})
		if !errors.Is(err, cause) {
			t.Fatalf("transaction: %v", err)
		}
		if n := count(t, db, "mailOutbox"); n != 0 {
			t.Fatalf("a rolled-back transaction left %d messages", n)
		}
		var kept store.OutboxMail
		err = store.Transaction(ctx, db, func(tx *gorm.DB) error {
			kept = store.OutboxMail{Recipient: "kept@example.com", Subject: "s", TextBody: "b"}
			return store.EnqueueMail(ctx, tx, &kept)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "mailOutbox"); n != 1 || len(kept.MessageID) != 32 {
			t.Fatalf("after a commit: %d messages, message id %q", n, kept.MessageID)
		}
		// Message ids are unique.
		dup := store.OutboxMail{Recipient: "x@example.com", Subject: "s", TextBody: "b", MessageID: kept.MessageID}
		if err := store.EnqueueMail(ctx, db, &dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a second message with id %s: %v, want a conflict", kept.MessageID, err)
		}
	})
}

// The life of a message: claimed by one sender and not by another while
// the lease lasts; claimed again once it lapses; a failure recorded only
// by its holder and delaying it by the back-off; once sent, never claimed
// again, and pruned later.
func TestMailClaimLifecycle(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := storetest.Open(t, driver)
		m := enqueue(t, db, "ann@example.com")
		now := time.Now().Add(time.Second) // past the enqueue, whose time is cut to the second

		got := claim(t, db, "a", now, 10)
		if len(got) != 1 || got[0].ID != m.ID || got[0].MessageID != m.MessageID || got[0].TextBody != "Hello ann@example.com" {
			t.Fatalf("first claim = %+v", got)
		}
		if again := claim(t, db, "b", now.Add(59*time.Second), 10); len(again) != 0 {
			t.Fatalf("claimed twice within the lease: %+v", again)
		}
		// Sender a died; its lease lapses and b takes the message.
		later := now.Add(61 * time.Second)
		got = claim(t, db, "b", later, 10)
		if len(got) != 1 || got[0].ID != m.ID {
			t.Fatalf("claim after the lease = %+v", got)
		}
		// a comes back and reports a failure: b holds the message now.
		if ok, err := store.MarkMailFailed(ctx, db, got[0], "a", "too late", later, testRetry); err != nil || ok {
			t.Fatalf("MarkMailFailed by a sender that lost the claim = %v, %v", ok, err)
		}
		if ok, err := store.MarkMailFailed(ctx, db, got[0], "b", "421 try again later", later, testRetry); err != nil || !ok {
			t.Fatalf("MarkMailFailed = %v, %v", ok, err)
		}
		var row store.OutboxMail
		if err := db.Take(&row, m.ID).Error; err != nil {
			t.Fatal(err)
		}
		if row.Attempts != 1 || row.LastError == nil || *row.LastError != "421 try again later" || row.ClaimedBy != nil ||
			row.NextAttemptAt == nil || !row.NextAttemptAt.Equal(later.Truncate(time.Second).Add(30*time.Second)) {
			t.Fatalf("after a failure: %+v", row)
		}
		if early := claim(t, db, "c", later.Add(29*time.Second), 10); len(early) != 0 {
			t.Fatalf("claimed before the back-off ended: %+v", early)
		}
		got = claim(t, db, "c", later.Add(30*time.Second), 10)
		if len(got) != 1 || got[0].Attempts != 1 {
			t.Fatalf("claim after the back-off = %+v", got)
		}
		if ok, err := store.MarkMailSent(ctx, db, m.ID, later); err != nil || !ok {
			t.Fatalf("MarkMailSent = %v, %v", ok, err)
		}
		if ok, err := store.MarkMailSent(ctx, db, m.ID, later); err != nil || ok {
			t.Fatalf("MarkMailSent again = %v, %v", ok, err)
		}
		if ok, err := store.MarkMailFailed(ctx, db, got[0], "c", "late failure", later, testRetry); err != nil || ok {
			t.Fatalf("MarkMailFailed after sent = %v, %v", ok, err)
		}
		if sent := claim(t, db, "d", later.Add(24*time.Hour), 10); len(sent) != 0 {
			t.Fatalf("a sent message was claimed: %+v", sent)
		}

		pending := enqueue(t, db, "bob@example.com")
		if n, err := store.PruneSentMail(ctx, db, later.Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("PruneSentMail before the cutoff = %d, %v", n, err)
		}
		if n, err := store.PruneSentMail(ctx, db, later.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("PruneSentMail = %d, %v", n, err)
		}
		if left := claim(t, db, "d", time.Now().Add(time.Second), 10); len(left) != 1 || left[0].ID != pending.ID {
			t.Fatalf("the pending message after pruning: %+v", left)
		}
	})
}

// Released messages are claimable at once, without an attempt counted.
func TestReleaseMail(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := storetest.Open(t, driver)
		enqueue(t, db, "a@example.com")
		enqueue(t, db, "b@example.com")
		now := time.Now().Add(time.Second)
		got := claim(t, db, "a", now, 10)
		if len(got) != 2 {
			t.Fatalf("claimed %d, want 2", len(got))
		}
		if err := store.ReleaseMail(ctx, db, "someone else", []int64{got[0].ID, got[1].ID}); err != nil {
			t.Fatal(err)
		}
		if n := len(claim(t, db, "b", now, 10)); n != 0 {
			t.Fatalf("another sender's release freed %d messages", n)
		}
		if err := store.ReleaseMail(ctx, db, "a", []int64{got[1].ID}); err != nil {
			t.Fatal(err)
		}
		again := claim(t, db, "b", now, 10)
		if len(again) != 1 || again[0].ID != got[1].ID || again[0].Attempts != 0 {
			t.Fatalf("after release: %+v", again)
		}
	})
}

// Back-off doubles from Base and stops at Max.
func TestMailRetryBackOff(t *testing.T) {
	r := store.MailRetry{Base: 30 * time.Second, Max: time.Hour}
	for attempts, want := range map[int]time.Duration{
		1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 7: 32 * time.Minute, 8: time.Hour, 1000: time.Hour,
	} {
		if got := r.After(attempts); got != want {
			t.Errorf("After(%d) = %s, want %s", attempts, got, want)
		}
	}
}

// A delivery error of any bytes is stored, cut to size.
func TestMarkMailFailedStoresAnyError(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		db := storetest.Open(t, driver)
		enqueue(t, db, "a@example.com")
		now := time.Now().Add(time.Second)
		got := claim(t, db, "a", now, 1)
		cause := "550 \x00bad \xff" + strings.Repeat("é", 2*store.MaxMailError)
		if ok, err := store.MarkMailFailed(ctx, db, got[0], "a", cause, now, testRetry); err != nil || !ok {
			t.Fatalf("MarkMailFailed = %v, %v", ok, err)
		}
		var row store.OutboxMail
		if err := db.Take(&row, got[0].ID).Error; err != nil {
			t.Fatal(err)
		}
		if row.LastError == nil || !strings.HasPrefix(*row.LastError, "550 bad \uFFFD") || len([]rune(*row.LastError)) != store.MaxMailError {
			t.Errorf("lastError = %.40q (%d characters)", *row.LastError, len([]rune(*row.LastError)))
		}
	})
}

// Senders claiming at once through separate handles (separate processes,
// as far as the database can tell) share out the due messages: each is
// claimed by exactly one.
func TestConcurrentClaimsAreDisjoint(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		dsn := storetest.NewDSN(t, driver)
		handles := []*gorm.DB{storetest.OpenDSN(t, driver, dsn), storetest.OpenRaw(t, driver, dsn)}
		const mails = 60
		for i := range mails {
			enqueue(t, handles[0], fmt.Sprintf("user%d@example.com", i))
		}
		now := time.Now().Add(time.Second)
		var mu sync.Mutex
		owner := map[int64]string{}
		var twice []string
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for s := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sender := fmt.Sprintf("sender-%d", s)
				db := handles[s%len(handles)]
				for range mails { // bounded: each round claims at least one or stops
					var got []store.OutboxMail
					err := store.Transaction(context.Background(), db, func(tx *gorm.DB) error {
						var err error
						got, err = store.ClaimMail(context.Background(), tx, sender, now, time.Minute, 3)
						return err
					})
					if errors.Is(err, store.ErrUnavailable) {
						continue // a deadlock or busy database: the claim is retried, as the sender does
					}
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, m := range got {
						if prev, dup := owner[m.ID]; dup {
							twice = append(twice, fmt.Sprintf("message %d claimed by %s and %s", m.ID, prev, sender))
						}
						owner[m.ID] = sender
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, dup := range twice {
			t.Error(dup)
		}
		if len(owner) != mails {
			t.Errorf("%d of %d messages claimed", len(owner), mails)
		}
	})
}
