/*
 * shell_tool.c - runs a configured command and copies its output.
 *
 * Copyright (c) 2024 Example Authors. All rights reserved.
 *
 * The decoys below must not be reported: system("rm -rf /") in a
 * comment, and strcpy(dst, src) in prose.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tool/config.h"

#define BUF_SIZE 256
#define RUN(cmd) system(cmd)

/* A record of one run. */
typedef struct {
    int status;
    char output[BUF_SIZE];
} run_result;

struct options {
    const char *command;
    int verbose;
};

enum mode { MODE_QUIET, MODE_LOUD };

static const char *banner = "call system(\"ls\") or popen() here";

/* Runs the command through the shell. */
int run_command(const char *command)
{
    // system("echo decoy");
    return system(command);
}

int capture(const char *command, run_result *result)
{
    FILE *pipe = popen(command, "r");
    char line[BUF_SIZE];
    if (pipe == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, pipe) != NULL) {
        strcpy(result->output, line);
        strcat(result->output, "\n");
    }
    sprintf(result->output, "%d", result->status);
    return pclose(pipe);
}

int main(int argc, char **argv);
