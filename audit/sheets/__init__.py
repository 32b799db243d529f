"""Case sheets in and out: ``rows`` reads CSV and XLSX safely; ``case_sheet`` checks, imports and exports them."""
