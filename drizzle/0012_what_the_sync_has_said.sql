CREATE TABLE "sutro"."notices" (
	"source" text NOT NULL,
	"kind" text NOT NULL,
	"subject" text NOT NULL,
	"detail" text,
	"first_run_id" bigint,
	"last_run_id" bigint,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"runs_seen" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "notices_source_kind_subject_pk" PRIMARY KEY("source","kind","subject"),
	CONSTRAINT "notices_kind_check" CHECK (kind IN ('unknown_field', 'missing_field', 'scrubbed_job'))
);
--> statement-breakpoint
-- The runs before this migration warned of their schema drift at every run: what they met counts as
-- said, so that an upgrade does not say it all once more.
INSERT INTO "sutro"."notices" ("source", "kind", "subject", "first_run_id", "last_run_id", "first_seen_at", "last_seen_at", "runs_seen")
SELECT d.source, d.kind, d.subject, min(d.id), max(d.id), min(d.started_at), max(d.started_at), count(*)::int
  FROM (SELECT source, id, started_at, 'unknown_field' AS kind, unnest(unknown_fields) AS subject FROM "sutro"."sync_runs"
        UNION ALL
        SELECT source, id, started_at, 'missing_field', unnest(missing_fields) FROM "sutro"."sync_runs") d
 GROUP BY d.source, d.kind, d.subject;
