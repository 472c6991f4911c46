-- One word for 信访事项 across the contract, the code and the schema: case (README, Decisions). The problem
-- categories are the categories of cases. Renaming keeps the rows, the grants and the foreign keys.
ALTER TABLE matter_categories RENAME TO case_categories;
