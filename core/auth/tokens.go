package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"
)

// Limits of the token checks.
const (
	// DefaultTokenTimeout bounds one token check (a command run, an
	// introspection request).
	DefaultTokenTimeout = 10 * time.Second
	// maxTokenReply bounds what is read of a check command's output or an
	// introspection response.
	maxTokenReply = 64 << 10
	// MaxTokenLen is the longest bearer token accepted, in octets.
	MaxTokenLen = 8 << 10
)

// PasswordTokens checks a bearer token by giving it to an Authenticator
// as the password: the path for stores that check OAuth tokens
// themselves (sdk.Authenticator receives the token as pass). The user name
// is required.
type PasswordTokens struct{ Auth Authenticator }

// AuthenticateToken implements TokenAuthenticator.
func (p PasswordTokens) AuthenticateToken(ctx context.Context, user, token string) (string, error) {
	if user == "" {
		return "", failed("no user name with the token")
	}
	return p.Auth.Authenticate(ctx, user, token)
}

// CommandTokens checks a bearer token by running a command (through
// /bin/sh -c) that reads two lines on its standard input, the user name
// (empty when the client gave none) and the token. Exit status 0 accepts:
// the first line of its output, if any, is the mailbox (else the user
// name); 1 refuses; anything else, or a run longer than Timeout, is an
// operational failure. The token never appears in its arguments or
// environment, and what the command writes to standard error is dropped.
type CommandTokens struct {
	Command string
	// Timeout bounds one run. Default DefaultTokenTimeout.
	Timeout time.Duration
}

// AuthenticateToken implements TokenAuthenticator.
func (c CommandTokens) AuthenticateToken(ctx context.Context, user, token string) (string, error) {
	if len(token) > MaxTokenLen || strings.ContainsAny(user+token, "\r\n") {
		return "", failed("malformed token")
	}
	ctx, cancel := context.WithTimeout(ctx, cmp(c.Timeout, DefaultTokenTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Command)
	cmd.Stdin = strings.NewReader(user + "\n" + token + "\n")
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.WaitDelay = time.Second
	var runErr error
	if err := withHashSlot(ctx, func() { runErr = cmd.Run() }); err != nil {
		return "", err
	}
	var exit *exec.ExitError
	switch {
	case runErr == nil:
	case ctx.Err() != nil:
		return "", fmt.Errorf("auth: token check command: %w", ctx.Err())
	case errors.As(runErr, &exit) && exit.ExitCode() == 1:
		return "", failed("token refused by the check command")
	default:
		return "", fmt.Errorf("auth: token check command: %w", runErr)
	}
	mailbox, _, _ := strings.Cut(out.String(), "\n")
	mailbox = strings.TrimSpace(mailbox)
	if mailbox == "" {
		mailbox = user
	}
	if mailbox == "" {
		return "", errors.New("auth: token check command accepted a token without a user name but named no mailbox")
	}
	return mailbox, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// limitedBuffer keeps the first maxTokenReply octets written to it.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxTokenReply - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }

// Introspection checks a bearer token with an OAuth 2.0 token
// introspection endpoint (RFC 7662): a POST of token=... (form-encoded),
// with HTTP basic authentication when ClientID is set. The token is
// accepted when the answer says "active": true, has not expired ("exp"),
// and names the same user ("username", else "sub") as the client, when
// both give one. The mailbox is the user name the client gave, else the
// endpoint's.
type Introspection struct {
	URL          string
	ClientID     string
	ClientSecret string
	// Client is the HTTP client. Default: one with Timeout.
	Client *http.Client
	// Timeout bounds one request. Default DefaultTokenTimeout.
	Timeout time.Duration
}

// AuthenticateToken implements TokenAuthenticator.
func (in Introspection) AuthenticateToken(ctx context.Context, user, token string) (string, error) {
	if len(token) > MaxTokenLen {
		return "", failed("token too long")
	}
	ctx, cancel := context.WithTimeout(ctx, cmp(in.Timeout, DefaultTokenTimeout))
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("auth: introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if in.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	}
	client := in.Client
	if client == nil {
		client = &http.Client{Timeout: cmp(in.Timeout, DefaultTokenTimeout)}
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error may quote the URL, never the token (it is in the body).
		return "", fmt.Errorf("auth: introspection: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("auth: introspection endpoint answered %s", resp.Status)
	}
	var r struct {
		Active   bool   `json:"active"`
		Username string `json:"username"`
		Sub      string `json:"sub"`
		Exp      *int64 `json:"exp"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTokenReply)).Decode(&r); err != nil {
		return "", fmt.Errorf("auth: introspection answer is not JSON: %w", err)
	}
	name := r.Username
	if name == "" {
		name = r.Sub
	}
	switch {
	case !r.Active:
		return "", failed("token not active")
	case r.Exp != nil && time.Now().Unix() >= *r.Exp:
		return "", failed("token expired")
	case user != "" && name != "" && name != user:
		return "", failed("token belongs to another user")
	case user == "" && name == "":
		return "", failed("neither the client nor the token names a user")
	}
	if user != "" {
		return user, nil
	}
	return name, nil
}
