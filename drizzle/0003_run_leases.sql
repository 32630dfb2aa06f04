CREATE TABLE "sutro"."sync_leases" (
	"source" text PRIMARY KEY NOT NULL,
	"token" bigint NOT NULL,
	"holder" text,
	"run_id" bigint,
	"acquired_at" timestamp with time zone DEFAULT now() NOT NULL,
	"renewed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
-- Error texts stored before redaction existed may hold a credential an API echoed back in an error
-- body; the same patterns as src/redact.ts take it out (the key itself is not known here).
-- test/integration/redaction-migration.test.ts holds the two to the same results.
UPDATE "sutro"."sync_runs"
   SET "error" = regexp_replace(
         regexp_replace("error",
           $re$((?<![\w-])(?:authorization|x-api-key|api[\s_-]?key|apikey|access[_-]?token|password)(?:\\?["'])?(?:\s*</t[dh]>\s*<t[dh][^>]*>\s*|\s*[:=]\s*)(?:\[\s*)?(?:\\?["'])?)([^"'\\\r\n<>,}&\]]+)$re$,
           '\1[REDACTED]', 'gi'),
         $re$\y(Key|Bearer|Token|Basic)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}$re$,
         '\1\2[REDACTED]', 'gi')
 WHERE "error" IS NOT NULL;
--> statement-breakpoint
UPDATE "sutro"."sync_state"
   SET "last_error" = regexp_replace(
         regexp_replace("last_error",
           $re$((?<![\w-])(?:authorization|x-api-key|api[\s_-]?key|apikey|access[_-]?token|password)(?:\\?["'])?(?:\s*</t[dh]>\s*<t[dh][^>]*>\s*|\s*[:=]\s*)(?:\[\s*)?(?:\\?["'])?)([^"'\\\r\n<>,}&\]]+)$re$,
           '\1[REDACTED]', 'gi'),
         $re$\y(Key|Bearer|Token|Basic)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}$re$,
         '\1\2[REDACTED]', 'gi')
 WHERE "last_error" IS NOT NULL;
