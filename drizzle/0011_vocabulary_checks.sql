-- Runs recorded by the hidden `sync --trigger <name>` option, now removed, were started from the command line.
UPDATE "sutro"."sync_runs" SET "trigger" = 'cli' WHERE "trigger" NOT IN ('cli', 'schedule', 'schedule-full', 'startup', 'demo');--> statement-breakpoint
ALTER TABLE "sutro"."job_history" ADD CONSTRAINT "job_history_change_check" CHECK (change IN ('first_seen', 'changed'));--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD CONSTRAINT "sync_runs_mode_check" CHECK (mode IN ('incremental', 'full'));--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD CONSTRAINT "sync_runs_requested_mode_check" CHECK (requested_mode IN ('incremental', 'full'));--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD CONSTRAINT "sync_runs_trigger_check" CHECK (trigger IN ('cli', 'schedule', 'schedule-full', 'startup', 'demo'));--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD CONSTRAINT "sync_runs_status_check" CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted', 'abandoned'));--> statement-breakpoint
ALTER TABLE "sutro"."sync_runs" ADD CONSTRAINT "sync_runs_stop_reason_check" CHECK (stop_reason IN ('end_of_list', 'below_floor', 'interrupted', 'error'));