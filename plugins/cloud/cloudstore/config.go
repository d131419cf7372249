package cloudstore

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/izyware/izypop3/sdk"
)

// Configuration keys (the mimestore.* keys without the prefix). The first
// three are the seed's names.
const (
	keyDataService = "dataservice" // endpoint URL; empty: AWS
	keyTableName   = "tablename"   // BUCKET or BUCKET/PREFIX
	keyAccessToken = "accesstoken" // KEY:SECRET; absent: the AWS credential chain
	keyRegion      = "region"
	keyPathStyle   = "pathstyle"
	keyReadAhead   = "readahead"
	keyLockTTL     = "lockttl"
)

// configKeys are the keys Configure takes (izypop3 refuses any other one
// before Configure; Configure checks again for hosts that do not).
var configKeys = []sdk.ConfigKey{
	{Name: keyTableName, Help: "BUCKET or BUCKET/PREFIX: where the mailboxes are (required)"},
	{Name: keyDataService, Help: "the S3 endpoint URL, http:// or https:// (default: AWS S3)"},
	{Name: keyAccessToken, Help: "KEY:SECRET (default: the AWS credential chain: environment, profile, web identity, instance role)"},
	{Name: keyRegion, Help: "the signing region (default: the AWS chain's, us-east-1 with a custom endpoint)"},
	{Name: keyPathStyle, Help: "true: the bucket in the URL path (default: true with a custom endpoint, false for AWS)"},
	{Name: keyReadAhead, Help: fmt.Sprintf("GETs in flight for sequential RETRs, 1..%d (default %d; 1: one at a time)", MaxReadAhead, DefaultReadAhead)},
	{Name: keyLockTTL, Help: fmt.Sprintf("a maildrop lock's lifetime without refresh, a Go duration of at least %v (default %v)", MinLockTTL, DefaultLockTTL)},
}

// Defaults and limits of the configuration.
const (
	// DefaultReadAhead is how many GETs a run of sequential RETRs keeps in
	// flight.
	DefaultReadAhead = 8
	// MaxReadAhead bounds mimestore.readahead.
	MaxReadAhead = 64
	// DefaultLockTTL is how long a maildrop lock lives without a refresh;
	// the holder refreshes it every third of that.
	DefaultLockTTL = 2 * time.Minute
	// MinLockTTL bounds mimestore.lockttl from below (a refresh must be
	// able to land in time).
	MinLockTTL = time.Second
	// defaultRegion is used with a custom endpoint when no region is
	// configured (most S3-compatible servers ignore it, SigV4 needs one).
	defaultRegion = "us-east-1"
)

// Config is the store's configuration.
type Config struct {
	// Endpoint is the S3 endpoint URL (key "dataservice"); empty means AWS.
	Endpoint string
	// Bucket and Prefix come from "tablename" ("BUCKET" or
	// "BUCKET/PREFIX"); Prefix has no leading or trailing "/".
	Bucket, Prefix string
	// AccessKey and SecretKey come from "accesstoken" ("KEY:SECRET"). Both
	// empty: the standard AWS credential chain.
	AccessKey, SecretKey string
	// Region (key "region"). Default: the AWS chain's region, or
	// us-east-1 with a custom endpoint.
	Region string
	// PathStyle addresses the bucket in the URL path (key "pathstyle").
	// Default: on with a custom endpoint, off for AWS.
	PathStyle bool
	// ReadAhead is the number of GETs in flight for sequential RETRs (key
	// "readahead", 1..MaxReadAhead); 1 reads one message at a time.
	// Default DefaultReadAhead.
	ReadAhead int
	// LockTTL is the maildrop lock's lifetime without refresh (key
	// "lockttl", a Go duration). Default DefaultLockTTL.
	LockTTL time.Duration
}

// String describes the target for messages: endpoint and bucket (never
// the credentials).
func (c Config) String() string {
	ep := c.Endpoint
	if ep == "" {
		ep = "AWS S3"
	}
	b := c.Bucket
	if c.Prefix != "" {
		b += "/" + c.Prefix
	}
	return fmt.Sprintf("endpoint %s, bucket %q", ep, b)
}

// decodeConfig decodes a configuration block strictly: an unknown key or a
// bad value is an error wrapping sdk.ErrInvalid that names the key.
func decodeConfig(m map[string]string) (Config, error) {
	if err := sdk.CheckConfig(Name, configKeys, m); err != nil {
		return Config{}, err
	}
	cfg := Config{ReadAhead: DefaultReadAhead, LockTTL: DefaultLockTTL}
	pathStyleSet := false
	bad := func(k, why string) error {
		return fmt.Errorf("%w: cloud: mimestore.%s: %s", sdk.ErrInvalid, k, why)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := strings.TrimSpace(m[k])
		switch k {
		case keyDataService:
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return Config{}, bad(k, fmt.Sprintf("%q is not an http:// or https:// URL", v))
				}
			}
			cfg.Endpoint = strings.TrimRight(v, "/")
		case keyTableName:
			b, p, _ := strings.Cut(strings.Trim(v, "/"), "/")
			if !validBucket(b) {
				return Config{}, bad(k, fmt.Sprintf("%q: want BUCKET or BUCKET/PREFIX with a valid bucket name", v))
			}
			cfg.Bucket, cfg.Prefix = b, strings.Trim(p, "/")
		case keyAccessToken:
			key, secret, ok := strings.Cut(v, ":")
			if !ok || key == "" || secret == "" {
				return Config{}, bad(k, "want KEY:SECRET") // never echo the value
			}
			cfg.AccessKey, cfg.SecretKey = key, secret
		case keyRegion:
			cfg.Region = v
		case keyPathStyle:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, bad(k, fmt.Sprintf("%q is not true or false", v))
			}
			cfg.PathStyle, pathStyleSet = b, true
		case keyReadAhead:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxReadAhead {
				return Config{}, bad(k, fmt.Sprintf("%q is not a number in 1..%d", v, MaxReadAhead))
			}
			cfg.ReadAhead = n
		case keyLockTTL:
			d, err := time.ParseDuration(v)
			if err != nil || d < MinLockTTL {
				return Config{}, bad(k, fmt.Sprintf("%q is not a duration of at least %v", v, MinLockTTL))
			}
			cfg.LockTTL = d
		}
	}
	if cfg.Bucket == "" {
		return Config{}, fmt.Errorf("%w: cloud: mimestore.tablename (BUCKET or BUCKET/PREFIX) is required", sdk.ErrInvalid)
	}
	if !pathStyleSet {
		cfg.PathStyle = cfg.Endpoint != ""
	}
	if cfg.Region == "" && cfg.Endpoint != "" {
		cfg.Region = defaultRegion
	}
	return cfg, nil
}

// validBucket checks the S3 bucket naming rules loosely (3..63 of a-z 0-9 .
// - _, the last for older and non-AWS buckets).
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
