CREATE TABLE "sutro"."source_schedules" (
	"source" text PRIMARY KEY NOT NULL,
	"next_run_at" timestamp with time zone NOT NULL,
	"next_full_at" timestamp with time zone NOT NULL,
	"schedule" text NOT NULL,
	"full_schedule" text NOT NULL,
	"failures" integer DEFAULT 0 NOT NULL,
	"retry_at" timestamp with time zone,
	"last_due_at" timestamp with time zone,
	"last_claimed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD COLUMN "due_at" timestamp with time zone;