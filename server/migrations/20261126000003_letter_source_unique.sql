-- An item transferred or assigned from above is registered once: its sender's reference identifies it, so an
-- agency system that resends it (new request id, new token) is told it exists instead of making a copy.
CREATE UNIQUE INDEX letters_source_reference_key ON letters (channel, source_reference)
    WHERE channel IN ('transferred', 'assigned', 'campaign_transfer');
