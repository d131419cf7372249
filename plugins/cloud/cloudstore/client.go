package cloudstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/izyware/izypop3/sdk"
)

// Retries: throttling, 5xx and network errors are retried up to
// maxAttempts times in all, with jittered exponential backoff of at most
// maxBackoff, then reported as sdk.ErrUnavailable.
const (
	maxAttempts = 4
	maxBackoff  = 2 * time.Second
	// maxConnsPerHost bounds the HTTP connections to the endpoint (the
	// read-ahead, the metadata fill and tag changes run requests in
	// parallel).
	maxConnsPerHost = 64
)

// newClient builds the S3 client for cfg.
func newClient(ctx context.Context, cfg Config, log *slog.Logger) (*s3.Client, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = maxConnsPerHost
		t.MaxIdleConnsPerHost = maxConnsPerHost
	})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				o.RateLimiter = ratelimit.None // bounded by attempts, not by a shared quota
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: cloud: %s: loading the AWS configuration: %v", sdk.ErrInvalid, cfg, err)
	}
	if ac.Region == "" {
		return nil, fmt.Errorf("%w: cloud: %s: no region: set mimestore.region (or AWS_REGION)", sdk.ErrInvalid, cfg)
	}
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Content-MD5 on every write is the integrity check; the
		// flexible checksums' aws-chunked uploads are not spoken by every
		// S3-compatible server.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// The SDK logs into the store's logger (never to stdout, which
		// belongs to the plugin handshake); at debug level
		// (mimestore.verbose) with the retries. Requests are not logged:
		// their headers carry signatures.
		o.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			log.Debug("cloud: s3: "+fmt.Sprintf(format, v...), "class", string(c))
		})
		if log.Enabled(ctx, slog.LevelDebug) {
			o.ClientLogMode = aws.LogRetries
		}
	}), nil
}

// s3Code returns the S3 error code and HTTP status of err ("" and 0 if it
// is not a service error).
func s3Code(err error) (string, int) {
	code, status := "", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func isNotFound(err error) bool {
	code, status := s3Code(err)
	return code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound && code != "NoSuchBucket"
}

func isPreconditionFailed(err error) bool {
	code, status := s3Code(err)
	return code == "PreconditionFailed" || status == http.StatusPreconditionFailed
}

// s3Error converts an S3 client error into the store's: a missing object
// is sdk.ErrNotFound, a canceled call its context's error, anything else
// (throttling and 5xx after the retries, network failures, access denied,
// a missing bucket) sdk.ErrUnavailable. Only the operation, the S3 error
// code and the HTTP status are kept: never the provider's message text.
func s3Error(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code, status := s3Code(err)
	if isNotFound(err) {
		return fmt.Errorf("%w: cloud: %s %s: %s", sdk.ErrNotFound, op, key, describe(code, status))
	}
	if code == "" && status == 0 {
		return fmt.Errorf("%w: cloud: %s %s: endpoint unreachable", sdk.ErrUnavailable, op, key)
	}
	return fmt.Errorf("%w: cloud: %s %s: %s", sdk.ErrUnavailable, op, key, describe(code, status))
}

func describe(code string, status int) string {
	switch {
	case code != "" && status != 0:
		return fmt.Sprintf("%s (HTTP %d)", code, status)
	case code != "":
		return code
	default:
		return fmt.Sprintf("HTTP %d", status)
	}
}

// startupCause explains, for a start-up error, what an S3 error code means.
// startupKind is the sentinel of a start-up failure: sdk.ErrUnavailable when
// the endpoint could not be reached or failed (5xx), which may pass on its
// own (izypop3 exits 1, a service manager restarts it); sdk.ErrInvalid
// when the endpoint refused the configuration (a missing bucket, wrong
// credentials), which only a change of the configuration mends (exit 2).
func startupKind(err error) error {
	code, status := s3Code(err)
	if code == "" && status == 0 || status >= 500 {
		return sdk.ErrUnavailable
	}
	return sdk.ErrInvalid
}

func startupCause(err error) string {
	code, status := s3Code(err)
	switch {
	case code == "NoSuchBucket":
		return "the bucket does not exist (NoSuchBucket)"
	case code == "InvalidAccessKeyId":
		return "the access key is not known to the endpoint (InvalidAccessKeyId): check mimestore.accesstoken"
	case code == "SignatureDoesNotMatch":
		return "the secret key is wrong (SignatureDoesNotMatch): check mimestore.accesstoken"
	case code == "AccessDenied" || status == http.StatusForbidden:
		return "access denied (" + describe(code, status) + "): bad credentials or missing permission"
	case code == "" && status == 0:
		var oe *smithy.OperationError
		if errors.As(err, &oe) {
			return "endpoint unreachable: " + oneLine(oe.Err.Error())
		}
		return "endpoint unreachable"
	default:
		return describe(code, status)
	}
}

func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return s[:i]
		}
	}
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
