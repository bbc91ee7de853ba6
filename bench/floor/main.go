// Command floor is the yardstick of make bench, not part of jwtauth: a bare
// Gin router whose handler writes a constant string (what a board would
// cost with nothing of jwtauth around it), and the pure bcrypt rates that
// signin and signup are measured against.
//
//	floor serve ADDR
//	floor bcrypt-compare COST SECONDS   prints comparisons per second
//	floor bcrypt-hash COST SECONDS      prints hashes per second
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"jwtauth/internal/bcrypt"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: floor serve ADDR | floor bcrypt-compare|bcrypt-hash COST SECONDS")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		for _, path := range []string{"/api/test/all", "/api/test/user", "/api/test/admin"} {
			r.GET(path, func(c *gin.Context) { c.String(http.StatusOK, "Public Content.") })
		}
		if err := http.ListenAndServe(os.Args[2], r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "bcrypt-compare", "bcrypt-hash":
		cost, _ := strconv.Atoi(os.Args[2])
		secs, _ := strconv.ParseFloat(os.Args[3], 64)
		password := []byte("bench-password-1")
		hash, _ := bcrypt.GenerateFromPassword(password, cost)
		n, start := 0, time.Now()
		for time.Since(start).Seconds() < secs {
			if os.Args[1] == "bcrypt-compare" {
				bcrypt.CompareHashAndPassword(hash, []byte("wrong-password"))
			} else {
				bcrypt.GenerateFromPassword(password, cost)
			}
			n++
		}
		fmt.Printf("%.3f\n", float64(n)/time.Since(start).Seconds())
	}
}
