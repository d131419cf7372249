//go:build !race

package pop3server_test

const raceEnabled = false
