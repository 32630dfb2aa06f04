CREATE SCHEMA "sutro";
--> statement-breakpoint
CREATE TABLE "sutro"."full_pass_seen" (
	"pass_run_id" bigint NOT NULL,
	"job_id" text NOT NULL,
	CONSTRAINT "full_pass_seen_pass_run_id_job_id_pk" PRIMARY KEY("pass_run_id","job_id")
);
--> statement-breakpoint
CREATE TABLE "sutro"."job_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"job_id" text NOT NULL,
	"run_id" bigint,
	"observed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"change" text NOT NULL,
	"changed_fields" text[] NOT NULL,
	"status" text NOT NULL,
	"previous_status" text,
	"datetime_created" timestamp with time zone,
	"datetime_started" timestamp with time zone,
	"datetime_completed" timestamp with time zone,
	"input_tokens" bigint,
	"output_tokens" bigint,
	"num_rows" bigint,
	"job_cost" numeric,
	"cost_estimate" numeric,
	"failure_reason" jsonb
);
--> statement-breakpoint
CREATE TABLE "sutro"."jobs" (
	"source" text NOT NULL,
	"job_id" text NOT NULL,
	"status" text NOT NULL,
	"model" text,
	"system_prompt" text,
	"job_priority" integer,
	"datetime_created" timestamp with time zone,
	"datetime_started" timestamp with time zone,
	"datetime_completed" timestamp with time zone,
	"json_schema" jsonb,
	"sampling_params" jsonb,
	"name" text,
	"description" text,
	"dataset_id" text,
	"input_tokens" bigint,
	"output_tokens" bigint,
	"job_cost" numeric,
	"num_rows" bigint,
	"failure_reason" jsonb,
	"cost_estimate" numeric,
	"run_type" text,
	"raw" jsonb NOT NULL,
	"settled" boolean GENERATED ALWAYS AS ((status IN ('FAILED', 'CANCELLED') OR (status = 'SUCCEEDED' AND job_cost IS NOT NULL AND datetime_completed IS NOT NULL))) STORED NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"missing_since" timestamp with time zone,
	"first_run_id" bigint,
	"last_changed_run_id" bigint,
	CONSTRAINT "jobs_source_job_id_pk" PRIMARY KEY("source","job_id")
);
--> statement-breakpoint
CREATE TABLE "sutro"."rejected_jobs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"job_id" text,
	"reason" text NOT NULL,
	"raw" jsonb NOT NULL,
	"raw_hash" text NOT NULL,
	"first_run_id" bigint,
	"last_run_id" bigint,
	"page" integer,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"times_seen" integer DEFAULT 1 NOT NULL,
	"position_on_page" smallint
);
--> statement-breakpoint
CREATE TABLE "sutro"."sync_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source" text NOT NULL,
	"mode" text NOT NULL,
	"requested_mode" text NOT NULL,
	"trigger" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL,
	"pages" integer DEFAULT 0 NOT NULL,
	"jobs_seen" integer DEFAULT 0 NOT NULL,
	"jobs_inserted" integer DEFAULT 0 NOT NULL,
	"jobs_updated" integer DEFAULT 0 NOT NULL,
	"jobs_unchanged" integer DEFAULT 0 NOT NULL,
	"jobs_rejected" integer DEFAULT 0 NOT NULL,
	"history_rows" integer DEFAULT 0 NOT NULL,
	"jobs_marked_missing" integer DEFAULT 0 NOT NULL,
	"stop_reason" text,
	"resumed_from_run_id" bigint,
	"floor" timestamp with time zone,
	"error" text,
	"host" text,
	"pid" integer
);
--> statement-breakpoint
CREATE TABLE "sutro"."sync_state" (
	"source" text PRIMARY KEY NOT NULL,
	"resume_cursor" text,
	"resume_pass_run_id" bigint,
	"resume_pages" integer DEFAULT 0 NOT NULL,
	"last_run_id" bigint,
	"last_success_at" timestamp with time zone,
	"last_success_run_id" bigint,
	"last_full_pass_at" timestamp with time zone,
	"last_error" text,
	"last_error_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "job_history_job_idx" ON "sutro"."job_history" USING btree ("source","job_id","id");--> statement-breakpoint
CREATE INDEX "jobs_created_idx" ON "sutro"."jobs" USING btree ("source","datetime_created");--> statement-breakpoint
CREATE INDEX "jobs_model_created_idx" ON "sutro"."jobs" USING btree ("model","datetime_created");--> statement-breakpoint
CREATE INDEX "jobs_unsettled_idx" ON "sutro"."jobs" USING btree ("source","datetime_created") WHERE NOT settled;--> statement-breakpoint
CREATE UNIQUE INDEX "rejected_jobs_source_hash_idx" ON "sutro"."rejected_jobs" USING btree ("source","raw_hash");--> statement-breakpoint
CREATE INDEX "sync_runs_source_started_idx" ON "sutro"."sync_runs" USING btree ("source","started_at");--> statement-breakpoint
CREATE INDEX "sync_runs_running_idx" ON "sutro"."sync_runs" USING btree ("source") WHERE status = 'running';