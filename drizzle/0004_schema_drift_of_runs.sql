ALTER TABLE "sutro"."sync_runs" ADD COLUMN "jobs_with_unknown_fields" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD COLUMN "jobs_with_missing_fields" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD COLUMN "jobs_in_legacy_shape" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD COLUMN "unknown_fields" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD COLUMN "missing_fields" text[] DEFAULT '{}'::text[] NOT NULL;