// Package auth checks POP3 credentials on the server side.
//
// Two modes exist:
//
//   - [Password]: the seed's (izy-pop3) mode. Any user name is accepted with
//     one shared password; each user name is its own mailbox. Because the
//     clear password is known, APOP (RFC 1939 §7) can be verified:
//     [Password.APOPSecret] hands it out.
//   - [UsersFile]: a file of "name:bcrypt-hash" lines. Only hashes are known,
//     so APOP is impossible and the server must not advertise it (a greeting
//     timestamp makes clients such as curl use APOP unconditionally).
//
// Both implement [Authenticator]. Wrong credentials give an error wrapping
// [ErrAuthFailed]; comparisons take the same time whether the user exists or
// not, and whatever the password.
//
// [HashPassword] produces the hashes a users file holds (the
// `izypop3 passwd` helper).
package auth
