// Package auth checks POP3 credentials on the server side.
//
// Credential sources, each an [Authenticator]:
//
//   - [Password]: the seed's (izy-pop3) mode. Any user name is accepted with
//     one shared password; each user name is its own mailbox. Because the
//     clear password is known, APOP (RFC 1939 §7) and CRAM-MD5 can be
//     verified: [Password.APOPSecret] hands it out.
//   - [UsersFile]: a file of "name:verifier" lines, the verifier bcrypt,
//     argon2id or SCRAM-SHA-256 ([Schemes], made by [HashPasswordScheme],
//     the `izypop3 passwd --scheme` helper). Only verifiers are known, so
//     APOP and CRAM-MD5 are impossible and must not be advertised (a
//     greeting timestamp makes clients such as curl use APOP
//     unconditionally); users with a SCRAM-SHA-256 verifier can use that
//     SASL mechanism ([SCRAMSecreter]).
//   - a store that checks credentials itself (sdk.Authenticator, adapted by
//     core/storehost/pop3backend).
//
// Bearer tokens (OAUTHBEARER, XOAUTH2) are checked by a [TokenAuthenticator]:
// [PasswordTokens] (a store's Authenticator receives the token as the
// password), [CommandTokens] (a command reads user and token on its
// standard input) or [Introspection] (RFC 7662).
//
// [SASL] offers the mechanisms of core/auth/sasl that a source allows and
// runs them over it.
//
// Wrong credentials give an error wrapping [ErrAuthFailed]; comparisons take
// the same time whether the user exists or not, and whatever the password.
// Password hashes computed at once in the process are bounded (one per
// CPU), so that a flood of logins cannot take every CPU. User names are
// checked by [ValidateUser] before they reach any store.
package auth
